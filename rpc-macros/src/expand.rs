//! Entry point of the expansion: parse, then either generate everything or,
//! when the trait has mistakes, emit the errors beside the trait as written
//! so that the user's other code does not drown them in follow-on errors.

use proc_macro2::TokenStream;
use quote::quote;
use syn::{ItemTrait, TraitItem};

use rpc_model::Service;

pub(crate) fn rpc_service(args: TokenStream, input: TokenStream) -> TokenStream {
    let item: ItemTrait = match syn::parse2(input.clone()) {
        Ok(item) => item,
        Err(_) => {
            let error = syn::Error::new_spanned(
                &input,
                "`#[rpc_service]` goes on a trait: `#[rpc_service(topic = \"...\")] pub trait Name { ... }`",
            );
            let error = error.to_compile_error();
            return quote!(#error #input);
        }
    };
    match rpc_model::parse_service(args, item.clone()) {
        Ok(service) => generate(&service, item),
        Err(errors) => fallback(item, &errors),
    }
}

fn generate(service: &Service, item: ItemTrait) -> TokenStream {
    let manager = crate::manager::rewrite(item);
    let types = crate::client::types(service);
    let service_type = crate::service::service_type(service);
    let descriptor = crate::descriptor::statics(service);
    let client_impls = crate::client::impls(service);
    let service_impls = crate::service::impls(service);
    quote! {
        #manager
        #types
        #service_type
        const _: () = {
            #descriptor
            #client_impls
            #service_impls
        };
    }
}

/// The trait as written (minus our `#[rpc]` attributes and any repeated
/// method, already reported) plus the errors.
fn fallback(mut item: ItemTrait, errors: &syn::Error) -> TokenStream {
    let mut seen = std::collections::HashSet::new();
    item.items.retain(|trait_item| match trait_item {
        TraitItem::Fn(function) => seen.insert(function.sig.ident.to_string()),
        _ => true,
    });
    for trait_item in &mut item.items {
        if let TraitItem::Fn(function) = trait_item {
            function.attrs.retain(|attr| !attr.path().is_ident("rpc"));
        }
    }
    let errors = errors.to_compile_error();
    quote!(#errors #item)
}
