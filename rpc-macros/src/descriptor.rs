//! The service descriptor: `static` data describing the trait, read by the
//! runtime (unknown methods, versions) and by tools.

use proc_macro2::TokenStream;
use quote::quote;

use rpc_model::render::type_to_string;
use rpc_model::{MethodKind, Output, Service};

/// `__RPC_METHODS` and `__RPC_DESCRIPTOR`, private to the generated block.
pub(crate) fn statics(service: &Service) -> TokenStream {
    let name = service.ident.to_string();
    let topic = &service.topic;
    let version = service.version.to_string();
    let namespace = match &service.namespace {
        Some(namespace) => quote!(::core::option::Option::Some(#namespace)),
        None => quote!(::core::option::Option::None),
    };
    let docs = service.docs.join("\n");
    let count = service.methods.len();
    let methods = service.methods.iter().map(|method| {
        let name = method.name();
        let kind = match method.kind {
            MethodKind::Call => quote!(::rpc_runtime::MethodKind::Call),
            MethodKind::Cast => quote!(::rpc_runtime::MethodKind::Cast),
            MethodKind::Stream => quote!(::rpc_runtime::MethodKind::Stream),
        };
        let since = match method.since {
            Some(since) => {
                let since = since.to_string();
                quote!(::core::option::Option::Some(#since))
            }
            None => quote!(::core::option::Option::None),
        };
        let args = method.args.iter().map(|arg| {
            let name = arg.name();
            let ty = type_to_string(&arg.ty);
            quote!(::rpc_runtime::ArgDescriptor { name: #name, ty: #ty })
        });
        let (returns, error) = match &method.output {
            Output::Unit => ("()".to_owned(), quote!(::core::option::Option::None)),
            Output::Value(ty) => (type_to_string(ty), quote!(::core::option::Option::None)),
            Output::Stream { item, err } => {
                let err = type_to_string(err);
                (
                    type_to_string(item),
                    quote!(::core::option::Option::Some(#err)),
                )
            }
            Output::Fallible { ok, err } => {
                let err = type_to_string(err);
                (
                    type_to_string(ok),
                    quote!(::core::option::Option::Some(#err)),
                )
            }
        };
        let docs = method.docs.join("\n");
        quote! {
            ::rpc_runtime::MethodDescriptor {
                name: #name,
                kind: #kind,
                since: #since,
                args: &[#(#args),*],
                returns: #returns,
                error: #error,
                docs: #docs,
            }
        }
    });
    quote! {
        static __RPC_METHODS: [::rpc_runtime::MethodDescriptor; #count] = [#(#methods),*];
        static __RPC_DESCRIPTOR: ::rpc_runtime::ServiceDescriptor = ::rpc_runtime::ServiceDescriptor {
            name: #name,
            topic: #topic,
            version: #version,
            namespace: #namespace,
            docs: #docs,
            methods: &__RPC_METHODS,
        };
    }
}
