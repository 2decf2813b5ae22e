//! The typed side of each method: its arguments as a list (the request
//! body on the wire) and the method's `MethodTypes` table.
//!
//! The arguments travel as a list `(a, (b, ()))` whose field names are data
//! in the table, so the runtime's serde code for a list of types is shared
//! by every method taking those types (see `rpc_runtime`'s `args` module).
//! The table is built once, in a `static`, by a generic `const fn` whose
//! bounds are given the user's own type tokens as explicit type arguments:
//! that call is the only place the compiler checks that a type can cross the
//! wire, so a type that cannot is reported once, where the user wrote it.

use proc_macro2::{Ident, TokenStream};
use quote::{ToTokens, format_ident, quote};

use rpc_model::{Method, MethodKind, Output};

/// The name of a method's `MethodTypes` static.
pub(crate) fn types_ident(method: &Method) -> Ident {
    format_ident!("__RPC_TYPES_{}", method.name())
}

/// `(a, (b, ()))`: the list of `items` (values, patterns or types).
pub(crate) fn list<T: ToTokens>(items: &[T]) -> TokenStream {
    items
        .iter()
        .rev()
        .fold(quote!(()), |rest, item| quote!((#item, #rest)))
}

/// The list from variables named like the arguments.
pub(crate) fn build(method: &Method) -> TokenStream {
    let names: Vec<_> = method.args.iter().map(|arg| &arg.ident).collect();
    list(&names)
}

/// The generic table builder and the table, per method.
pub(crate) fn items(methods: &[Method]) -> TokenStream {
    let items = methods.iter().map(method_items);
    quote!(#(#items)*)
}

fn method_items(method: &Method) -> TokenStream {
    let types = types_ident(method);
    let builder = format_ident!("__rpc_types_{}", method.name());
    let params: Vec<Ident> = (0..method.args.len())
        .map(|i| format_ident!("T{}", i))
        .collect();
    let args = list(&params);
    let arg_types: Vec<_> = method.args.iter().map(|arg| &arg.ty).collect();
    let concrete_args = list(&arg_types);
    let struct_name = format!("__RpcArgs_{}", method.name());
    let fields = method.args.iter().map(|arg| arg.name());
    let private = quote!(::rpc_runtime::__private);
    let names = quote! {
        #private::ArgNames { name: #struct_name, fields: &[#(#fields),*] }
    };
    let wire = quote!(#private::WireType);
    let rpc_error = quote!(::rpc_runtime::RpcError);
    let result = quote!(::core::result::Result);
    // (extra generic params, builder output O and C, constructor, concrete O/C, concrete extra args)
    let (extra, generic_oc, constructor, concrete_oc, concrete_extra) =
        match (method.kind, &method.output) {
            (MethodKind::Cast, _) => (
                quote!(),
                quote!((), #result<(), #rpc_error>),
                quote!(#private::cast::<#args>(#names)),
                quote!((), #result<(), #rpc_error>),
                quote!(),
            ),
            (MethodKind::Call, Output::Fallible { ok, err }) => (
                quote!(R: #wire, E: #private::ServiceError),
                quote!(#result<R, E>, #result<R, E>),
                quote!(#private::fallible::<#args, R, E>(#names)),
                quote!(#result<#ok, #err>, #result<#ok, #err>),
                quote!(#ok, #err),
            ),
            (MethodKind::Stream, Output::Stream { item, err }) => (
                quote!(R: #wire, E: #private::ServiceError),
                quote!(R, E),
                quote!(#private::stream::<#args, R, E>(#names)),
                quote!(#item, #err),
                quote!(#item, #err),
            ),
            (_, output) => {
                let ty = match output {
                    Output::Value(ty) => quote!(#ty),
                    _ => quote!(()),
                };
                (
                    quote!(R: #wire),
                    quote!(R, #result<R, #rpc_error>),
                    quote!(#private::value::<#args, R>(#names)),
                    quote!(#ty, #result<#ty, #rpc_error>),
                    ty,
                )
            }
        };
    let table = match method.kind {
        MethodKind::Stream => quote!(#private::StreamTypes),
        _ => quote!(#private::MethodTypes),
    };
    quote! {
        #[allow(non_snake_case)]
        const fn #builder<#(#params: #wire,)* #extra>() -> #table<#args, #generic_oc> {
            #constructor
        }

        #[allow(non_upper_case_globals)]
        static #types: #table<#concrete_args, #concrete_oc> =
            #builder::<#(#arg_types,)* #concrete_extra>();
    }
}
