//! The `#[serde(...)]` attributes that change a type's JSON shape, as far
//! as the docs follow them: `rename`, `rename_all`, `skip`,
//! `skip_serializing`, `skip_deserializing`, `default`, `flatten`,
//! `transparent`, `tag`, `content`, `untagged`. Others (`with`,
//! `serialize_with`, `from`, `into`, ...) are noted by `custom`, and the
//! type's schema then says its shape is hand-written.

use syn::Attribute;

/// What serde's attributes on one item (container, variant or field) say.
#[derive(Debug, Default, Clone)]
pub(crate) struct SerdeAttrs {
    pub(crate) rename: Option<String>,
    pub(crate) rename_all: Option<String>,
    pub(crate) skip: bool,
    pub(crate) default: bool,
    pub(crate) flatten: bool,
    pub(crate) transparent: bool,
    pub(crate) tag: Option<String>,
    pub(crate) content: Option<String>,
    pub(crate) untagged: bool,
    /// A serde attribute that hands the shape to code (`with`, `from`, ...).
    pub(crate) custom: bool,
}

impl SerdeAttrs {
    pub(crate) fn of(attrs: &[Attribute]) -> Self {
        let mut out = Self::default();
        for attr in attrs.iter().filter(|a| a.path().is_ident("serde")) {
            let _ = attr.parse_nested_meta(|meta| {
                let key = meta
                    .path
                    .get_ident()
                    .map(ToString::to_string)
                    .unwrap_or_default();
                let string = |meta: &syn::meta::ParseNestedMeta<'_>| -> Option<String> {
                    let value = meta.value().ok()?;
                    let lit: syn::LitStr = value.parse().ok()?;
                    Some(lit.value())
                };
                match key.as_str() {
                    "rename" => out.rename = string(&meta).or(out.rename.take()),
                    "rename_all" => out.rename_all = string(&meta).or(out.rename_all.take()),
                    "tag" => out.tag = string(&meta),
                    "content" => out.content = string(&meta),
                    "skip" | "skip_serializing" | "skip_deserializing" => out.skip = true,
                    "default" => {
                        out.default = true;
                        let _ = string(&meta);
                    }
                    "flatten" => out.flatten = true,
                    "transparent" => out.transparent = true,
                    "untagged" => out.untagged = true,
                    "with" | "serialize_with" | "deserialize_with" | "from" | "into"
                    | "try_from" | "remote" => {
                        out.custom = true;
                        let _ = string(&meta);
                    }
                    _ => {
                        // Skip the value of any other attribute.
                        if let Ok(value) = meta.value() {
                            let _: Option<syn::Expr> = value.parse().ok();
                        }
                    }
                }
                Ok(())
            });
        }
        out
    }
}

/// A variant's name (PascalCase in Rust) under `rule`.
pub(crate) fn rename_variant(name: &str, rule: Option<&str>) -> String {
    let snake = || {
        let mut out = String::new();
        for (i, c) in name.char_indices() {
            if c.is_uppercase() && i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        }
        out
    };
    match rule {
        Some("lowercase") => name.to_ascii_lowercase(),
        Some("UPPERCASE") => name.to_ascii_uppercase(),
        Some("camelCase") => lower_first(name),
        Some("snake_case") => snake(),
        Some("SCREAMING_SNAKE_CASE") => snake().to_ascii_uppercase(),
        Some("kebab-case") => snake().replace('_', "-"),
        Some("SCREAMING-KEBAB-CASE") => snake().replace('_', "-").to_ascii_uppercase(),
        _ => name.to_owned(),
    }
}

/// A field's name (snake_case in Rust) under `rule`.
pub(crate) fn rename_field(name: &str, rule: Option<&str>) -> String {
    let pascal = || {
        name.split('_')
            .map(|word| {
                let mut chars = word.chars();
                chars.next().map_or_else(String::new, |first| {
                    first.to_ascii_uppercase().to_string() + chars.as_str()
                })
            })
            .collect::<String>()
    };
    match rule {
        Some("UPPERCASE" | "SCREAMING_SNAKE_CASE") => name.to_ascii_uppercase(),
        Some("PascalCase") => pascal(),
        Some("camelCase") => lower_first(&pascal()),
        Some("kebab-case") => name.replace('_', "-"),
        Some("SCREAMING-KEBAB-CASE") => name.replace('_', "-").to_ascii_uppercase(),
        _ => name.to_owned(),
    }
}

fn lower_first(name: &str) -> String {
    let mut chars = name.chars();
    chars.next().map_or_else(String::new, |first| {
        first.to_ascii_lowercase().to_string() + chars.as_str()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_attributes_that_shape_json() {
        let attrs: Vec<Attribute> = vec![
            syn::parse_quote!(#[serde(rename_all = "snake_case", tag = "kind")]),
            syn::parse_quote!(#[serde(deny_unknown_fields, bound = "T: Clone")]),
        ];
        let read = SerdeAttrs::of(&attrs);
        assert_eq!(read.rename_all.as_deref(), Some("snake_case"));
        assert_eq!(read.tag.as_deref(), Some("kind"));
        let field: Vec<Attribute> = vec![syn::parse_quote!(#[serde(default, rename = "n")])];
        let read = SerdeAttrs::of(&field);
        assert!(read.default);
        assert_eq!(read.rename.as_deref(), Some("n"));
        let custom: Vec<Attribute> = vec![syn::parse_quote!(#[serde(with = "hex")])];
        assert!(SerdeAttrs::of(&custom).custom);
    }

    #[test]
    fn renames_as_serde_does() {
        assert_eq!(
            rename_variant("NoValidHost", Some("snake_case")),
            "no_valid_host"
        );
        assert_eq!(
            rename_variant("NoValidHost", Some("kebab-case")),
            "no-valid-host"
        );
        assert_eq!(
            rename_variant("NoValidHost", Some("camelCase")),
            "noValidHost"
        );
        assert_eq!(rename_variant("NoValidHost", None), "NoValidHost");
        assert_eq!(rename_field("size_gb", Some("camelCase")), "sizeGb");
        assert_eq!(rename_field("size_gb", Some("PascalCase")), "SizeGb");
        assert_eq!(
            rename_field("size_gb", Some("SCREAMING-KEBAB-CASE")),
            "SIZE-GB"
        );
    }
}
