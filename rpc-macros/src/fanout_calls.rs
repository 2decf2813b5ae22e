//! A call or stream method through the fanout handle: one clear compile error.
//!
//! A fanout carries casts only, so the fanout handle has no call or stream
//! method. Without one, `client.fanout().count(&ctx)` would find an unrelated
//! trait method (`Iterator::count`: "`PetStoreFanout` is not an iterator") or
//! none at all. So the handle gets, for each call and stream method, a hidden
//! method of the same name and parameters whose where-clause needs a trait
//! that nothing implements (`rpc_runtime::__private::FanoutCarriesCastsOnly`,
//! or `FanoutCarriesNoStreams`): the call site's one error is that trait's
//! `#[diagnostic::on_unimplemented]` text, which says what to write instead.
//! The bound is on `&'a Self` with the method's own lifetime `'a`, so rustc
//! checks it at each call, not at the definition. The method returns a
//! `Ready` future (not an `async fn`, whose future would carry the bound and
//! repeat the error at `.await`), so the rest of the user's expression
//! type-checks.
//!
//! The traits live in the runtime, not beside the generated code, because a
//! `#[diagnostic::...]` attribute does not resolve in a module without the
//! prelude (`#![no_implicit_prelude]`).

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::{Generics, Ident, Lifetime, parse_quote};

use rpc_model::{MethodKind, Service};

/// What a refusing fanout method is declared with.
pub(crate) struct Refused<'a> {
    /// The method's name.
    pub(crate) ident: &'a Ident,
    /// Call or stream (a cast is never refused).
    pub(crate) kind: MethodKind,
    /// The method's own generics (none for a method without mistakes).
    pub(crate) generics: Generics,
    /// The parameter types after `&self`, the context's included.
    pub(crate) params: Vec<TokenStream>,
    /// What the client's method returns (after `.await`).
    pub(crate) output: TokenStream,
}

/// The refusing fanout methods of a service's calls and streams.
pub(crate) fn for_service(service: &Service) -> TokenStream {
    let fanout = service.fanout_ident();
    let refusals = service
        .methods
        .iter()
        .filter(|m| !m.is_cast())
        .map(|method| {
            let params = std::iter::once(&method.ctx_ty)
                .chain(method.args.iter().map(|arg| &arg.ty))
                .map(|ty| quote!(#ty))
                .collect();
            refusal(
                &fanout,
                Refused {
                    ident: &method.ident,
                    kind: method.kind,
                    generics: Generics::default(),
                    params,
                    output: crate::returns::output(method),
                },
            )
        });
    quote!(#(#refusals)*)
}

/// One refusing method on `fanout`.
pub(crate) fn refusal(fanout: &Ident, refused: Refused<'_>) -> TokenStream {
    let Refused {
        ident,
        kind,
        mut generics,
        params,
        output,
    } = refused;
    let marker = match kind {
        MethodKind::Stream => "FanoutCarriesNoStreams",
        _ => "FanoutCarriesCastsOnly",
    };
    // The bound's span is the method's name in the trait, so the error's
    // "required by this bound" note shows the method's declaration.
    let marker = Ident::new(marker, ident.span());
    let bound = quote_spanned!(ident.span()=> ::rpc_runtime::__private::#marker);
    let lifetime = Lifetime::new("'__rpc_fanout", Span::call_site());
    generics.params.insert(0, parse_quote!(#lifetime));
    generics
        .make_where_clause()
        .predicates
        .push(parse_quote!(&#lifetime Self: #bound));
    let where_clause = &generics.where_clause;
    quote! {
        impl #fanout {
            #[doc(hidden)]
            pub fn #ident #generics (&#lifetime self, #(_: #params),*)
                -> ::core::future::Ready<#output>
            #where_clause
            {
                ::core::unreachable!("a fanout handle has no calls")
            }
        }
    }
}
