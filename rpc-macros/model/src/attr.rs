//! Reads `#[rpc_service(...)]` and the per-method `#[rpc(...)]` attributes.

use proc_macro2::{Span, TokenStream};
use syn::meta::ParseNestedMeta;
use syn::parse::Parser;
use syn::{Attribute, LitStr};

use crate::errors::Errors;
use crate::model::Version;

/// The longest topic accepted: queue names (`<topic>_fanout_<32 hex>`,
/// `<topic>.<server>`) must stay under AMQP's 255-byte limit.
pub const MAX_TOPIC_LEN: usize = 128;

/// The arguments of `#[rpc_service(topic = "...", version = "...")]`.
#[derive(Debug, Default)]
pub struct ServiceAttrs {
    /// `topic = "volume"` (required).
    pub topic: Option<String>,
    /// `version = "3.1"` (default `1.0`).
    pub version: Option<Version>,
    /// `namespace = "baseapi"` (oslo.messaging's `Target.namespace`).
    pub namespace: Option<String>,
}

/// Parses the attribute's arguments; every problem goes to `errors`.
pub fn parse_service_attrs(args: TokenStream, errors: &mut Errors) -> ServiceAttrs {
    let mut attrs = ServiceAttrs::default();
    let parser = syn::meta::parser(|meta| {
        if meta.path.is_ident("topic") {
            let lit: LitStr = meta.value()?.parse()?;
            if attrs.topic.is_some() {
                return Err(meta.error("`topic` is given twice"));
            }
            match check_topic(&lit.value()) {
                Ok(()) => attrs.topic = Some(lit.value()),
                Err(message) => errors.error_spanned_by(&lit, message),
            }
            Ok(())
        } else if meta.path.is_ident("version") {
            if attrs.version.is_some() {
                return Err(meta.error("`version` is given twice"));
            }
            attrs.version = version_value(&meta, errors)?;
            Ok(())
        } else if meta.path.is_ident("namespace") {
            let lit: LitStr = meta.value()?.parse()?;
            if attrs.namespace.is_some() {
                return Err(meta.error("`namespace` is given twice"));
            }
            let name = lit.value();
            if name.is_empty() || name.len() > 255 || !name.chars().all(|c| c.is_ascii_graphic()) {
                errors.error_spanned_by(
                    &lit,
                    "a namespace is 1 to 255 printable ASCII characters without spaces",
                );
            } else {
                attrs.namespace = Some(name);
            }
            Ok(())
        } else {
            Err(meta.error(format!(
                "unknown `rpc_service` argument `{}`; expected `topic = \"...\"`, `version = \"major.minor\"` or `namespace = \"...\"`",
                path_name(&meta)
            )))
        }
    });
    if let Err(error) = parser.parse2(args) {
        errors.push(error);
    } else if attrs.topic.is_none() {
        errors.error_at(
            Span::call_site(),
            "`#[rpc_service]` needs a topic: write `#[rpc_service(topic = \"volume\")]`",
        );
    }
    attrs
}

/// The options of one method, from its `#[rpc(...)]` attributes.
#[derive(Debug, Default)]
pub struct MethodAttrs {
    /// `#[rpc(cast)]`: the method is one-way.
    pub cast: bool,
    /// `#[rpc(since = "3.1")]`.
    pub since: Option<Version>,
}

/// Reads and removes every `#[rpc(...)]` from `attrs`.
pub fn take_method_attrs(attrs: &mut Vec<Attribute>, errors: &mut Errors) -> MethodAttrs {
    let mut out = MethodAttrs::default();
    let mut seen_cast = false;
    attrs.retain(|attr| {
        if !attr.path().is_ident("rpc") {
            return true;
        }
        let result = attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("cast") {
                if seen_cast {
                    return Err(meta.error("`cast` is given twice"));
                }
                seen_cast = true;
                out.cast = true;
                Ok(())
            } else if meta.path.is_ident("since") {
                if out.since.is_some() {
                    return Err(meta.error("`since` is given twice"));
                }
                out.since = version_value(&meta, errors)?;
                Ok(())
            } else {
                Err(meta.error(format!(
                    "unknown `rpc` option `{}`; expected `cast` or `since = \"major.minor\"`",
                    path_name(&meta)
                )))
            }
        });
        if let Err(error) = result {
            errors.push(error);
        }
        false
    });
    out
}

fn version_value(meta: &ParseNestedMeta<'_>, errors: &mut Errors) -> syn::Result<Option<Version>> {
    let lit: LitStr = meta.value()?.parse()?;
    match Version::parse(&lit.value()) {
        Ok(version) => Ok(Some(version)),
        Err(message) => {
            errors.error_spanned_by(&lit, message);
            Ok(None)
        }
    }
}

fn path_name(meta: &ParseNestedMeta<'_>) -> String {
    let segments: Vec<String> = meta
        .path
        .segments
        .iter()
        .map(|s| s.ident.to_string())
        .collect();
    segments.join("::")
}

/// A topic becomes a queue name and a routing key: keep it short and plain.
pub fn check_topic(topic: &str) -> Result<(), String> {
    if topic.is_empty() {
        return Err("the topic must not be empty".into());
    }
    if topic.len() > MAX_TOPIC_LEN {
        return Err(format!("the topic is longer than {MAX_TOPIC_LEN} bytes"));
    }
    if let Some(bad) = topic
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')))
    {
        return Err(format!(
            "the topic may hold ASCII letters, digits, `_`, `-` and `.`, not `{bad}`"
        ));
    }
    Ok(())
}
