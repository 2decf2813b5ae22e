//! One argument struct per method: the request body on the wire.
//!
//! The struct's fields are the method's arguments (after the context), with
//! the user's own type tokens, so a type that is not serializable is reported
//! on the argument where the user wrote it.

use proc_macro2::{Ident, TokenStream};
use quote::{format_ident, quote};

use rpc_model::{Method, Service};

/// The name of a method's argument struct.
pub(crate) fn ident(method: &Method) -> Ident {
    let name = method.name();
    format_ident!("__RpcArgs_{}", name.strip_prefix("r#").unwrap_or(&name))
}

/// The argument structs of every method.
pub(crate) fn structs(service: &Service) -> TokenStream {
    let structs = service.methods.iter().map(|method| {
        let ident = ident(method);
        let fields = method.args.iter().map(|arg| {
            let (name, ty) = (&arg.ident, &arg.ty);
            quote!(#name: #ty)
        });
        quote! {
            #[derive(::rpc_runtime::serde::Serialize, ::rpc_runtime::serde::Deserialize)]
            #[serde(crate = "::rpc_runtime::serde")]
            #[allow(non_camel_case_types)]
            struct #ident { #(#fields),* }
        }
    });
    quote!(#(#structs)*)
}

/// `Args { a, b }`: builds the struct from the method's argument variables.
pub(crate) fn build(method: &Method) -> TokenStream {
    let ident = ident(method);
    let names = method.args.iter().map(|arg| &arg.ident);
    quote!(#ident { #(#names),* })
}
