//! The manager trait: the user's trait, made implementable with `async fn`
//! while promising `Send` futures, so the server can run requests on any
//! Tokio worker.
//!
//! `async fn f(&self, ..) -> T` becomes
//! `fn f(&self, ..) -> impl Future<Output = T> + Send`; the trait gains
//! `Send + Sync + 'static` so one manager can serve many requests at once.

use proc_macro2::TokenStream;
use quote::quote;
use syn::{FnArg, ItemTrait, Pat, ReturnType, TraitItem, parse_quote};

pub(crate) fn rewrite(item: ItemTrait) -> TokenStream {
    let mut item = bounded(item);
    for trait_item in &mut item.items {
        let TraitItem::Fn(function) = trait_item else {
            continue;
        };
        let sig = &mut function.sig;
        sig.asyncness = None;
        let output = match &sig.output {
            ReturnType::Default => quote!(()),
            ReturnType::Type(_, ty) => quote!(#ty),
        };
        sig.output = parse_quote! {
            -> impl ::core::future::Future<Output = #output> + ::core::marker::Send
        };
    }
    quote!(#item)
}

/// The trait as written, with `Send + Sync + 'static` and without our
/// `#[rpc]` attributes: what a trait with mistakes becomes, so the user's
/// own impl of it still compiles. An argument pattern that rustc refuses in
/// a method without a body (`(a, b): T`, `mut a: T`: already reported)
/// becomes `_`.
pub(crate) fn bounded(mut item: ItemTrait) -> ItemTrait {
    item.supertraits.push(parse_quote!(::core::marker::Send));
    item.supertraits.push(parse_quote!(::core::marker::Sync));
    item.supertraits.push(parse_quote!('static));
    if item.colon_token.is_none() {
        item.colon_token = Some(Default::default());
    }
    for trait_item in &mut item.items {
        if let TraitItem::Fn(function) = trait_item {
            function.attrs.retain(|attr| !attr.path().is_ident("rpc"));
            if function.default.is_none() {
                for input in &mut function.sig.inputs {
                    if let FnArg::Typed(typed) = input {
                        if !is_plain(&typed.pat) {
                            *typed.pat = parse_quote!(_);
                        }
                    }
                }
            }
        }
    }
    item
}

/// `name` or `_`: a pattern a method without a body may have.
fn is_plain(pat: &Pat) -> bool {
    match pat {
        Pat::Ident(ident) => {
            ident.by_ref.is_none() && ident.mutability.is_none() && ident.subpat.is_none()
        }
        Pat::Wild(_) => true,
        _ => false,
    }
}
