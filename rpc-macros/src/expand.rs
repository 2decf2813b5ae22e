//! Entry point of the expansion: parse, then generate everything or, when
//! the trait has mistakes, the errors beside the trait as written and the
//! generated types with stub bodies (thiserror's fallback), so that the
//! user's other code does not drown them in follow-on errors. The methods
//! with mistakes get stand-ins of their own ([`crate::stand_ins`]): one
//! mistake, one error, whatever calls the method.

use proc_macro2::TokenStream;
use quote::quote;
use syn::{ItemTrait, TraitItem};

use rpc_model::Service;

use crate::bodies::Bodies;

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
    match rpc_model::parse_service_partly(args, item.clone()) {
        (service, None) => generate(&service, crate::manager::rewrite(item), Bodies::Real),
        (service, Some(errors)) => {
            // The errors, then the trait as written and the generated types
            // with stub bodies (for the methods without mistakes), so that
            // the user's code using them adds no errors of its own.
            let errors = errors.to_compile_error();
            let stand_ins = crate::stand_ins::stand_ins(&service, &item);
            let item = crate::manager::bounded(without_repeats(item));
            let stubs = generate(&service, quote!(#item), Bodies::Stub);
            quote! {
                #errors
                #stubs
                const _: () = {
                    #stand_ins
                };
            }
        }
    }
}

fn generate(service: &Service, manager: TokenStream, bodies: Bodies) -> TokenStream {
    let types = crate::client::types(service);
    let service_type = crate::service::service_type(service);
    let descriptor = crate::descriptor::statics(service);
    let client_impls = crate::client::impls(service, bodies);
    let service_impls = crate::service::impls(service, bodies);
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

/// The trait without any repeated method (already reported).
fn without_repeats(mut item: ItemTrait) -> ItemTrait {
    let mut seen = std::collections::HashSet::new();
    item.items.retain(|trait_item| match trait_item {
        TraitItem::Fn(function) => seen.insert(function.sig.ident.to_string()),
        _ => true,
    });
    item
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every method the generated code defines beside the trait's own is in
    /// the reserved list, so no trait method can collide with one.
    #[test]
    fn every_generated_method_name_is_reserved() {
        let item: ItemTrait = syn::parse_quote! {
            pub trait Volume {
                async fn call_me(&self, ctx: &Context) -> u32;
                #[rpc(cast)]
                async fn cast_me(&self, ctx: &Context);
            }
        };
        let service = rpc_model::parse_service(quote!(topic = "t"), item).expect("a service");
        let client = crate::client::impls(&service, Bodies::Real);
        let server = crate::service::impls(&service, Bodies::Real);
        let file: syn::File = syn::parse2(quote!(#client #server)).expect("items");
        let mut generated = Vec::new();
        for item in file.items {
            let syn::Item::Impl(block) = item else {
                continue;
            };
            if block.trait_.is_some() {
                continue;
            }
            for item in block.items {
                if let syn::ImplItem::Fn(function) = item {
                    generated.push(function.sig.ident.to_string());
                }
            }
        }
        assert!(generated.len() > 10, "{generated:?}");
        for name in generated {
            let own = name == "call_me" || name == "cast_me";
            assert!(
                own || rpc_model::RESERVED_METHOD_NAMES.contains(&name.as_str()),
                "the generated `{name}` is not in the reserved list"
            );
        }
    }
}
