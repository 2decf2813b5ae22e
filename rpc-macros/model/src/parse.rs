//! Builds the [`Service`] model from a trait and checks it.
//!
//! Each check reports one mistake once, on the user's own tokens; a method with
//! a mistake is left out of the model so later checks do not pile up follow-on
//! errors about it.

use proc_macro2::TokenStream;
use syn::ext::IdentExt;
use syn::{
    Attribute, Expr, FnArg, ItemTrait, Lit, Meta, Pat, Signature, TraitItem, TraitItemFn, Type,
};

use crate::attr::{parse_service_attrs, take_method_attrs};
use crate::errors::Errors;
use crate::model::{Arg, Method, MethodKind, Output, Service};
use crate::output::parse_output;
use crate::reserved::RESERVED_METHOD_NAMES;

/// Parses `#[rpc_service(args)] item` into a checked model.
///
/// On failure the error holds every mistake found, each spanned on the
/// tokens that caused it.
pub fn parse_service(args: TokenStream, item: ItemTrait) -> syn::Result<Service> {
    match parse_service_partly(args, item) {
        (service, None) => Ok(service),
        (_, Some(errors)) => Err(errors),
    }
}

/// Parses as [`parse_service`] does, but also returns the model of what
/// passed the checks (the methods without mistakes) beside the errors, so
/// that a code generator can still emit the types the user's code names.
pub fn parse_service_partly(
    args: TokenStream,
    mut item: ItemTrait,
) -> (Service, Option<syn::Error>) {
    let mut errors = Errors::new();
    let attrs = parse_service_attrs(args, &mut errors);
    check_trait_header(&item, &mut errors);

    let version = attrs.version.unwrap_or_default();
    let mut methods: Vec<Method> = Vec::new();
    for trait_item in &mut item.items {
        let TraitItem::Fn(function) = trait_item else {
            errors.error_spanned_by(
                &*trait_item,
                "an RPC service trait may only contain methods (`async fn name(&self, ctx: &Context, ...)`)",
            );
            continue;
        };
        let Some(method) = parse_method(function, &mut errors) else {
            continue;
        };
        if let Some(since) = method.since {
            if since > version {
                errors.error_spanned_by(
                    &method.ident,
                    format!("`since = \"{since}\"` is newer than the service's version {version}"),
                );
            }
        }
        if methods.iter().any(|m| m.ident == method.ident) {
            errors.error_spanned_by(
                &method.ident,
                format!(
                    "duplicate method `{}`: a method's name is its name on the wire, so each must be unique",
                    method.ident
                ),
            );
            continue;
        }
        methods.push(method);
    }
    let (docs, attrs_kept) = split_docs(item.attrs);
    let service = Service {
        ident: item.ident,
        vis: item.vis,
        topic: attrs.topic.unwrap_or_default(),
        version,
        namespace: attrs.namespace,
        docs,
        attrs: attrs_kept,
        methods,
    };
    (service, errors.finish().err())
}

fn check_trait_header(item: &ItemTrait, errors: &mut Errors) {
    if !item.generics.params.is_empty() || item.generics.where_clause.is_some() {
        errors.error_spanned_by(
            &item.generics,
            "an RPC service trait cannot be generic: both ends of the wire must agree on concrete types",
        );
    }
    if let Some(unsafety) = &item.unsafety {
        errors.error_spanned_by(unsafety, "an RPC service trait cannot be `unsafe`");
    }
    if let Some(auto) = &item.auto_token {
        errors.error_spanned_by(auto, "an RPC service trait cannot be an auto trait");
    }
}

fn parse_method(function: &mut TraitItemFn, errors: &mut Errors) -> Option<Method> {
    let mut local = Errors::new();
    let method_attrs = take_method_attrs(&mut function.attrs, &mut local);
    let sig = &function.sig;
    check_signature_header(sig, &mut local);
    if let Some(body) = &function.default {
        local.error_spanned_by(
            body,
            "an RPC method has no default body: the manager implementing the trait provides it",
        );
    }
    let name = sig.ident.unraw().to_string();
    if RESERVED_METHOD_NAMES.contains(&name.as_str()) {
        local.error_spanned_by(
            &sig.ident,
            format!(
                "`{name}` is reserved: the generated client or the runtime already uses it; rename the method"
            ),
        );
    }
    let inputs = parse_inputs(sig, &mut local);
    let output = parse_output(&sig.output, &mut local);
    let kind = match (&output, method_attrs.cast) {
        (_, true) => MethodKind::Cast,
        (Some(Output::Stream { .. }), false) => MethodKind::Stream,
        _ => MethodKind::Call,
    };
    if let (MethodKind::Cast, Some(output)) = (kind, &output) {
        if !matches!(output, Output::Unit) {
            local.error_spanned_by(
                &sig.output,
                "a cast does not wait for an answer, so it cannot return a value: remove the return type, or remove `#[rpc(cast)]` to make it a call",
            );
        }
    }
    let ok = local.is_empty();
    local.finish().unwrap_or_else(|e| errors.push(e));
    if !ok {
        return None;
    }
    let (ctx_ident, ctx_ty, args) = inputs?;
    let (docs, attrs) = split_docs(function.attrs.clone());
    Some(Method {
        ident: sig.ident.clone(),
        kind,
        since: method_attrs.since,
        docs,
        attrs,
        ctx_ident,
        ctx_ty,
        args,
        output: output?,
        span: syn::spanned::Spanned::span(sig),
    })
}

fn check_signature_header(sig: &Signature, errors: &mut Errors) {
    if sig.asyncness.is_none() {
        errors.error_spanned_by(
            sig.fn_token,
            format!("RPC methods must be async: write `async fn {}`", sig.ident),
        );
    }
    if let Some(constness) = &sig.constness {
        errors.error_spanned_by(constness, "an RPC method cannot be `const`");
    }
    if let Some(unsafety) = &sig.unsafety {
        errors.error_spanned_by(unsafety, "an RPC method cannot be `unsafe`");
    }
    if let Some(abi) = &sig.abi {
        errors.error_spanned_by(abi, "an RPC method cannot have an `extern` ABI");
    }
    if !sig.generics.params.is_empty() || sig.generics.where_clause.is_some() {
        errors.error_spanned_by(
            &sig.generics,
            "an RPC method cannot be generic: its arguments cross the network, so their types must be concrete",
        );
    }
    if let Some(variadic) = &sig.variadic {
        errors.error_spanned_by(variadic, "an RPC method cannot be variadic");
    }
}

type Inputs = (syn::Ident, Type, Vec<Arg>);

fn parse_inputs(sig: &Signature, errors: &mut Errors) -> Option<Inputs> {
    let mut inputs = sig.inputs.iter();
    match inputs.next() {
        Some(FnArg::Receiver(receiver))
            if receiver.reference.is_some() && receiver.mutability.is_none() =>
        {
            if receiver.colon_token.is_some() {
                errors.error_spanned_by(receiver, "write the receiver as plain `&self`");
                return None;
            }
        }
        Some(FnArg::Receiver(receiver)) => {
            errors.error_spanned_by(
                receiver,
                "RPC methods take `&self`: the manager serves many requests at once, so it cannot be borrowed mutably or consumed",
            );
            return None;
        }
        _ => {
            errors.error_spanned_by(
                &sig.ident,
                format!(
                    "`{}` must take `&self` first: write `async fn {}(&self, ctx: &Context, ...)`",
                    sig.ident, sig.ident
                ),
            );
            return None;
        }
    }
    let ctx = match inputs.next() {
        Some(FnArg::Typed(typed)) if is_context_ref(&typed.ty) => {
            plain_ident(&typed.pat, errors).map(|ident| (ident, (*typed.ty).clone()))
        }
        other => {
            let message = format!(
                "the first argument after `&self` must be the request context: write `async fn {}(&self, ctx: &Context, ...)`",
                sig.ident
            );
            match other {
                Some(arg) => errors.error_spanned_by(arg, message),
                None => errors.error_spanned_by(&sig.inputs, message),
            }
            return None;
        }
    };
    let mut args = Vec::new();
    let mut ok = true;
    for input in inputs {
        let FnArg::Typed(typed) = input else {
            continue; // a second receiver is rejected by rustc itself
        };
        let Some(ident) = plain_ident(&typed.pat, errors) else {
            ok = false;
            continue;
        };
        if !check_arg_type(&typed.ty, errors) {
            ok = false;
            continue;
        }
        args.push(Arg {
            ident,
            ty: (*typed.ty).clone(),
        });
    }
    let (ctx_ident, ctx_ty) = ctx?;
    ok.then_some((ctx_ident, ctx_ty, args))
}

/// `&Context`, `&rpc_runtime::Context`, ...: a shared reference to a type named `Context`.
fn is_context_ref(ty: &Type) -> bool {
    let Type::Reference(reference) = ty else {
        return false;
    };
    if reference.mutability.is_some() {
        return false;
    }
    matches!(&*reference.elem, Type::Path(path)
        if path.qself.is_none()
            && path.path.segments.last().is_some_and(|s| s.ident == "Context" && s.arguments.is_none()))
}

fn plain_ident(pat: &Pat, errors: &mut Errors) -> Option<syn::Ident> {
    match pat {
        Pat::Ident(ident) if ident.by_ref.is_none() && ident.subpat.is_none() => {
            if let Some(mutability) = &ident.mutability {
                errors.error_spanned_by(
                    mutability,
                    "remove `mut` here: the trait declares the argument, the manager's impl may still bind it mutably",
                );
                return None;
            }
            Some(ident.ident.clone())
        }
        _ => {
            errors.error_spanned_by(
                pat,
                "RPC arguments need a plain name (`name: Type`): the name is the field name on the wire",
            );
            None
        }
    }
}

fn check_arg_type(ty: &Type, errors: &mut Errors) -> bool {
    match ty {
        Type::Reference(_) => {
            errors.error_spanned_by(
                ty,
                "RPC arguments are sent over the network and must be owned: use `String` for `&str`, `Vec<T>` for `&[T]`",
            );
            false
        }
        Type::ImplTrait(_) => {
            errors.error_spanned_by(
                ty,
                "an RPC argument needs a concrete type, not `impl Trait`",
            );
            false
        }
        _ => true,
    }
}

/// Splits doc comments (as text lines) from the other attributes.
fn split_docs(attrs: Vec<Attribute>) -> (Vec<String>, Vec<Attribute>) {
    let mut docs = Vec::new();
    let mut rest = Vec::new();
    for attr in attrs {
        match doc_text(&attr) {
            Some(text) => docs.extend(
                text.lines()
                    .map(|l| l.strip_prefix(' ').unwrap_or(l).to_owned()),
            ),
            None => rest.push(attr),
        }
    }
    (docs, rest)
}

fn doc_text(attr: &Attribute) -> Option<String> {
    let Meta::NameValue(nv) = &attr.meta else {
        return None;
    };
    if !nv.path.is_ident("doc") {
        return None;
    }
    match &nv.value {
        Expr::Lit(lit) => match &lit.lit {
            Lit::Str(s) => Some(s.value()),
            _ => None,
        },
        _ => None,
    }
}

/// Every `#[rpc_service]` trait of a source file (inline modules included),
/// each parsed with the same rules as the macro.
pub fn services_in_file(file: &syn::File) -> Vec<syn::Result<Service>> {
    let mut out = Vec::new();
    collect(&file.items, &mut out);
    out
}

fn collect(items: &[syn::Item], out: &mut Vec<syn::Result<Service>>) {
    for item in items {
        match item {
            syn::Item::Trait(item_trait) => {
                let Some(position) = item_trait.attrs.iter().position(is_rpc_service_attr) else {
                    continue;
                };
                let mut item_trait = item_trait.clone();
                let attr = item_trait.attrs.remove(position);
                let args = match attr.meta {
                    Meta::List(list) => list.tokens,
                    _ => TokenStream::new(),
                };
                out.push(parse_service(args, item_trait));
            }
            syn::Item::Mod(module) => {
                if let Some((_, items)) = &module.content {
                    collect(items, out);
                }
            }
            _ => {}
        }
    }
}

fn is_rpc_service_attr(attr: &Attribute) -> bool {
    attr.path()
        .segments
        .last()
        .is_some_and(|s| s.ident == "rpc_service")
}
