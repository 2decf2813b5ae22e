//! What a generated client method returns, by its kind: a call's
//! `Result`, a stream's `RpcStream`, a cast's confirm.

use proc_macro2::TokenStream;
use quote::quote;

use rpc_model::{Method, MethodKind, Output};

/// What the client's method returns (after `.await`).
pub(crate) fn output(method: &Method) -> TokenStream {
    output_of(method.kind, &method.output)
}

/// What a client method of this kind returning `output` returns.
pub(crate) fn output_of(kind: MethodKind, output: &Output) -> TokenStream {
    let rpc_error = quote!(::rpc_runtime::RpcError);
    match (kind, output) {
        (MethodKind::Call, Output::Fallible { ok, err }) => {
            quote!(::core::result::Result<#ok, #err>)
        }
        (MethodKind::Call, Output::Value(ty)) => quote!(::core::result::Result<#ty, #rpc_error>),
        (MethodKind::Stream, Output::Stream { item, err }) => {
            quote!(::rpc_runtime::RpcStream<#item, #err>)
        }
        _ => quote!(::core::result::Result<(), #rpc_error>),
    }
}
