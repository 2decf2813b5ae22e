//! Parser and checked model of `#[rpc_service]` traits.
//!
//! This crate is the single reader of an RPC service trait. The proc-macro
//! (`rpc-macros`) turns its [`Service`] model into code, and `cargo xtask
//! gen-docs` turns the same model into documentation, so the two can never
//! disagree about what a trait means.
//!
//! The pipeline follows serde_derive's: [`attr`] reads the attributes,
//! [`parse`] builds the [`Service`] model and checks it, collecting every
//! mistake as a `syn::Error` spanned on the user's own tokens.
//!
//! ```
//! let item: syn::ItemTrait = syn::parse_quote! {
//!     pub trait VolumeManager {
//!         /// Create a volume.
//!         async fn create_volume(&self, ctx: &Context, name: String) -> Result<u64, String>;
//!         #[rpc(cast)]
//!         async fn delete_volume(&self, ctx: &Context, id: u64);
//!     }
//! };
//! let service = rpc_model::parse_service(quote::quote!(topic = "volume"), item).unwrap();
//! assert_eq!(service.topic, "volume");
//! assert_eq!(service.methods.len(), 2);
//! assert!(service.methods[1].is_cast());
//! ```

pub mod attr;
mod errors;
pub mod model;
pub mod output;
pub mod parse;
pub mod render;
pub mod reserved;

pub use errors::Errors;
pub use model::{Arg, Method, MethodKind, Output, Service, Version};
pub use parse::{parse_service, parse_service_partly, services_in_file};
pub use reserved::RESERVED_METHOD_NAMES;
