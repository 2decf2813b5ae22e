//! Stand-ins for the methods with mistakes, so that one mistake gives one
//! error (serde_derive's model: report the error, still emit the code).
//!
//! A trait with mistakes still gets its client and service, with stub
//! bodies (see [`crate::expand`]), but a method with a mistake is not in the
//! model, so the client would lack it and each call of it would add a "no
//! method named ..." to the one real error. This module gives the client a
//! stand-in of each such method, declared from the signature as written
//! (its parameters after the receiver, its return type as a client method
//! returns it), so that the user's calls of it type-check. The fanout handle
//! gets the stand-in too if the method is a cast, else the same refusal as
//! a call without mistakes (see [`crate::fanout_calls`]).
//!
//! Left out: a second method of the same name, and, on the client, a
//! method named like one of the client's own (`timeout`, `topic`, ...):
//! that one stays, so a call of the trait's method meets it.

use std::collections::HashSet;

use proc_macro2::{TokenStream, TokenTree};
use quote::{ToTokens, quote};
use syn::ext::IdentExt;
use syn::{FnArg, ItemTrait, ReturnType, Signature, TraitItem, Type};

use rpc_model::attr::take_method_attrs;
use rpc_model::output::parse_output;
use rpc_model::{Errors, MethodKind, Output, Service};

use crate::fanout_calls::{Refused, refusal};

/// The stand-ins of `item`'s methods that are not in `service` (the trait
/// as written, `#[rpc]` attributes included).
pub(crate) fn stand_ins(service: &Service, item: &ItemTrait) -> TokenStream {
    let client = service.client_ident();
    let fanout = service.fanout_ident();
    let mut seen: HashSet<String> = service.methods.iter().map(|m| m.name()).collect();
    let mut on_client = Vec::new();
    let mut on_fanout = Vec::new();
    let mut refusals = Vec::new();
    for trait_item in &item.items {
        let TraitItem::Fn(function) = trait_item else {
            continue;
        };
        let sig = &function.sig;
        let name = sig.ident.unraw().to_string();
        let on_the_client = !crate::client::OWN_METHODS.contains(&name.as_str());
        if !seen.insert(name) {
            continue;
        }
        // Read again for the kind only: the mistakes were reported already.
        let cast = take_method_attrs(&mut function.attrs.clone(), &mut Errors::new()).cast;
        let (kind, output) = kind_and_output(sig, cast);
        let params = params(sig);
        let method = stand_in(sig, &params, &output);
        match kind {
            MethodKind::Cast => on_fanout.push(method.clone()),
            _ => refusals.push(refusal(
                &fanout,
                Refused {
                    ident: &sig.ident,
                    kind,
                    generics: sig.generics.clone(),
                    params,
                    output,
                },
            )),
        }
        if on_the_client {
            on_client.push(method);
        }
    }
    quote! {
        impl #client {
            #(#on_client)*
        }

        impl #fanout {
            #(#on_fanout)*
        }

        #(#refusals)*
    }
}

/// Call, cast or stream, and what the client's method returns: the same
/// rules as for a method without mistakes, as far as the signature allows.
fn kind_and_output(sig: &Signature, cast: bool) -> (MethodKind, TokenStream) {
    let output = match parse_output(&sig.output, &mut Errors::new()) {
        _ if cast => Output::Unit,
        // A reference comes back as written; `impl Trait` cannot.
        None => match &sig.output {
            ReturnType::Type(_, ty) if matches!(**ty, Type::Reference(_)) => {
                Output::Value((**ty).clone())
            }
            _ => Output::Unit,
        },
        Some(output) if mentions_impl(&output) => Output::Unit,
        Some(output) => output,
    };
    let kind = match (&output, cast) {
        (_, true) => MethodKind::Cast,
        (Output::Stream { .. }, false) => MethodKind::Stream,
        _ => MethodKind::Call,
    };
    (kind, crate::returns::output_of(kind, &output))
}

/// Whether a type in `output` is `impl Trait`, which a stub body cannot
/// give a type to.
fn mentions_impl(output: &Output) -> bool {
    let types = match output {
        Output::Unit => vec![],
        Output::Value(ty) => vec![ty],
        Output::Fallible { ok, err } => vec![ok, err],
        Output::Stream { item, err } => vec![item, err],
    };
    types.iter().any(|ty| has_impl(ty.to_token_stream()))
}

fn has_impl(tokens: TokenStream) -> bool {
    tokens.into_iter().any(|token| match token {
        TokenTree::Ident(ident) => ident == "impl",
        TokenTree::Group(group) => has_impl(group.stream()),
        _ => false,
    })
}

/// The types of the parameters after the receiver, as written.
fn params(sig: &Signature) -> Vec<TokenStream> {
    sig.inputs
        .iter()
        .filter_map(|input| match input {
            FnArg::Typed(typed) => Some(typed.ty.to_token_stream()),
            FnArg::Receiver(_) => None,
        })
        .collect()
}

/// A client method that type-checks as the user's calls expect, and panics.
fn stand_in(sig: &Signature, params: &[TokenStream], output: &TokenStream) -> TokenStream {
    let ident = &sig.ident;
    let generics = &sig.generics;
    let where_clause = &sig.generics.where_clause;
    quote! {
        #[doc(hidden)]
        pub async fn #ident #generics (&self, #(_: #params),*) -> #output #where_clause {
            ::core::unimplemented!("the trait has mistakes (see the errors above)")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The methods each `impl` block of `tokens` defines, by the block's type.
    fn methods_by_type(tokens: TokenStream) -> Vec<(String, String)> {
        let file: syn::File = syn::parse2(tokens).expect("items");
        let mut out = Vec::new();
        for item in file.items {
            let syn::Item::Impl(block) = item else {
                continue;
            };
            let ty = block.self_ty.to_token_stream().to_string();
            for item in block.items {
                if let syn::ImplItem::Fn(function) = item {
                    out.push((ty.clone(), function.sig.ident.to_string()));
                }
            }
        }
        out.sort();
        out
    }

    /// Each method with a mistake is on the client (unless named like one
    /// of its own) and on the fanout handle (a cast, or a refusal).
    #[test]
    fn every_method_with_a_mistake_gets_a_stand_in() {
        let item: ItemTrait = syn::parse_quote! {
            pub trait Volume {
                fn not_async(&self, ctx: &Context) -> u32;
                async fn good(&self, ctx: &Context) -> u32;
                #[rpc(cast)]
                async fn no_context(&self, id: u64);
                async fn timeout(&self, ctx: &Context);
                async fn ping(&self, ctx: &Context, name: &str) -> &str;
            }
        };
        let (service, errors) = rpc_model::parse_service_partly(quote!(topic = "t"), item.clone());
        assert!(errors.is_some());
        let found = methods_by_type(stand_ins(&service, &item));
        let expected = [
            ("VolumeClient", "no_context"),
            ("VolumeClient", "not_async"),
            ("VolumeClient", "ping"),
            ("VolumeFanout", "no_context"),
            ("VolumeFanout", "not_async"),
            ("VolumeFanout", "ping"),
            ("VolumeFanout", "timeout"),
        ]
        .map(|(ty, name)| (ty.to_owned(), name.to_owned()));
        assert_eq!(found, expected);
    }
}
