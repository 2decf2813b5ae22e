//! The serde types defined in the workspace's source, by name, so that
//! argument and return types get real JSON Schemas (see `schema.rs`).
//!
//! Read from the source with syn rather than derived at compile time
//! (`schemars` behind a feature): the docs then need no build of the
//! services, no extra derive on every user type, and the same parser reads
//! the traits and their types. What it follows of serde's attributes is
//! listed in `serde_attrs.rs`; a type it cannot see (defined outside the
//! workspace) stays a named schema that says so.

use std::collections::BTreeMap;

use syn::{Attribute, Item};

/// A struct or enum that derives `Serialize` or `Deserialize`.
#[derive(Debug, Clone)]
pub(crate) enum Def {
    /// A struct.
    Struct(syn::ItemStruct),
    /// An enum.
    Enum(syn::ItemEnum),
}

impl Def {
    pub(crate) fn attrs(&self) -> &[Attribute] {
        match self {
            Def::Struct(s) => &s.attrs,
            Def::Enum(e) => &e.attrs,
        }
    }

    pub(crate) fn generics(&self) -> &syn::Generics {
        match self {
            Def::Struct(s) => &s.generics,
            Def::Enum(e) => &e.generics,
        }
    }
}

/// One definition and the file it is in.
#[derive(Debug, Clone)]
pub(crate) struct Located {
    pub(crate) def: Def,
    /// The file, relative to the workspace root.
    pub(crate) file: String,
}

/// Every serde type of the workspace, by its name.
#[derive(Debug, Default)]
pub(crate) struct TypeDefs {
    by_name: BTreeMap<String, Vec<Located>>,
}

impl TypeDefs {
    /// Adds the serde types of one parsed file (inline modules included).
    pub(crate) fn add_file(&mut self, file: &str, parsed: &syn::File) {
        self.add_items(file, &parsed.items);
    }

    fn add_items(&mut self, file: &str, items: &[Item]) {
        for item in items {
            let (name, def) = match item {
                Item::Struct(s) if is_serde(&s.attrs) => {
                    (s.ident.to_string(), Def::Struct(s.clone()))
                }
                Item::Enum(e) if is_serde(&e.attrs) => (e.ident.to_string(), Def::Enum(e.clone())),
                Item::Mod(m) => {
                    if let Some((_, items)) = &m.content {
                        self.add_items(file, items);
                    }
                    continue;
                }
                _ => continue,
            };
            self.by_name.entry(name).or_default().push(Located {
                def,
                file: file.to_owned(),
            });
        }
    }

    /// The definition of `name` as seen from `file`: the one in that file,
    /// else the only one in the workspace. `None` when there is none or
    /// several (which one a path means would need name resolution).
    pub(crate) fn find(&self, name: &str, file: &str) -> Option<&Located> {
        let all = self.by_name.get(name)?;
        all.iter()
            .find(|l| l.file == file)
            .or_else(|| (all.len() == 1).then(|| &all[0]))
    }
}

/// Whether the item derives serde's `Serialize` or `Deserialize`.
fn is_serde(attrs: &[Attribute]) -> bool {
    attrs.iter().any(|attr| {
        if !attr.path().is_ident("derive") {
            return false;
        }
        let mut found = false;
        let _ = attr.parse_nested_meta(|meta| {
            let last = meta.path.segments.last().map(|s| s.ident.to_string());
            if matches!(last.as_deref(), Some("Serialize" | "Deserialize")) {
                found = true;
            }
            Ok(())
        });
        found
    })
}

/// A doc comment's lines, joined.
pub(crate) fn docs(attrs: &[Attribute]) -> Option<String> {
    let lines: Vec<String> = attrs
        .iter()
        .filter(|a| a.path().is_ident("doc"))
        .filter_map(|a| match &a.meta {
            syn::Meta::NameValue(nv) => match &nv.value {
                syn::Expr::Lit(syn::ExprLit {
                    lit: syn::Lit::Str(s),
                    ..
                }) => Some(s.value().trim().to_owned()),
                _ => None,
            },
            _ => None,
        })
        .collect();
    let text = plain_links(lines.join(" ").trim());
    (!text.is_empty()).then_some(text)
}

/// Doc text with rustdoc's intra-doc links (`` [`RpcError::Timeout`] ``,
/// `` [`X`][path] ``) as plain code spans: outside rustdoc they lead
/// nowhere and show their brackets. Links with a target (`[text](url)`)
/// stay.
pub(crate) fn plain_links(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("[`") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find("`]").filter(|&end| !after[..end].contains('`')) else {
            out.push_str("[`");
            rest = after;
            continue;
        };
        let code = &after[..end];
        let tail = &after[end + 2..];
        if tail.starts_with('(') {
            out.push_str(&rest[start..start + 2 + end + 2]);
            rest = tail;
            continue;
        }
        out.push('`');
        out.push_str(code);
        out.push('`');
        rest = match tail
            .strip_prefix('[')
            .and_then(|t| t.find(']').map(|i| &t[i + 1..]))
        {
            Some(past_reference) => past_reference,
            None => tail,
        };
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intra_doc_links_become_code_spans() {
        assert_eq!(
            plain_links(
                "What a [`RpcError::Timeout`] waited for; see [`is_remote`][RpcError::is_remote]."
            ),
            "What a `RpcError::Timeout` waited for; see `is_remote`."
        );
        let kept = "See [`serde`](https://serde.rs), [plain] and an unclosed [`y";
        assert_eq!(plain_links(kept), kept);
    }

    #[test]
    fn finds_serde_types_in_the_file_first() {
        let mut defs = TypeDefs::default();
        let a: syn::File = syn::parse_quote! {
            #[derive(Serialize)] struct Volume { id: u64 }
            struct Plain;
            mod inner { #[derive(serde::Deserialize)] enum Kind { A } }
        };
        let b: syn::File = syn::parse_quote! {
            #[derive(Debug, Serialize)] struct Volume { name: String }
        };
        defs.add_file("a.rs", &a);
        defs.add_file("b.rs", &b);
        assert!(defs.find("Plain", "a.rs").is_none(), "not a serde type");
        assert!(
            defs.find("Kind", "b.rs").is_some(),
            "unique, found anywhere"
        );
        assert_eq!(
            defs.find("Volume", "b.rs").map(|l| l.file.as_str()),
            Some("b.rs")
        );
        assert!(defs.find("Volume", "c.rs").is_none(), "ambiguous");
    }
}
