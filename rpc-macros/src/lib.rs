//! The `#[rpc_service]` attribute macro. Use it through `rpc-runtime`, which
//! re-exports it and holds everything the generated code calls.
//!
//! The macro reads the trait with `rpc-model` (the same parser `cargo xtask
//! gen-docs` uses), then writes the manager trait, the client, the
//! fanout handle, the service dispatcher and the descriptor, one module each.
//! A mistake in the trait is one error on the user's tokens: the code is
//! still generated, so nothing that uses it adds errors of its own.

extern crate proc_macro;

mod args;
mod bodies;
mod client;
mod descriptor;
mod expand;
mod fanout_calls;
mod manager;
mod returns;
mod service;
mod stand_ins;

use proc_macro::TokenStream;

/// Turns a trait into an RPC service: the trait becomes the manager you
/// implement, and the macro adds `<Trait>Client`, `<Trait>Fanout` and
/// `<Trait>Service<M>`. See the `rpc-runtime` crate docs for a full example.
///
/// Arguments: `topic = "volume"` (required), `version = "3.1"` (default
/// `"1.0"`). Per method: `#[rpc(cast)]` for one-way methods, `#[rpc(since =
/// "3.1")]` for methods added in a later version.
#[proc_macro_attribute]
pub fn rpc_service(args: TokenStream, input: TokenStream) -> TokenStream {
    expand::rpc_service(args.into(), input.into()).into()
}
