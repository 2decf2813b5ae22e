//! JSON Schemas for argument and return types, where the Rust type says
//! enough (numbers, strings, options, sequences, maps, tuples); any other
//! type becomes a named schema that documents the Rust type by name.

use std::collections::BTreeMap;

use rpc_model::render::type_to_string;
use serde_json::{Value, json};
use syn::{GenericArgument, PathArguments, Type};

/// The named schemas a document refers to, by component name.
pub(crate) type Named = BTreeMap<String, Value>;

/// The schema of `ty`, adding named schemas to `named`.
pub(crate) fn schema(ty: &Type, named: &mut Named) -> Value {
    match ty {
        Type::Tuple(tuple) if tuple.elems.is_empty() => json!({"type": "null"}),
        Type::Tuple(tuple) => {
            let items: Vec<Value> = tuple.elems.iter().map(|t| schema(t, named)).collect();
            let len = items.len();
            json!({"type": "array", "items": items, "minItems": len, "maxItems": len})
        }
        Type::Array(array) => {
            let item = schema(&array.elem, named);
            match &array.len {
                syn::Expr::Lit(syn::ExprLit {
                    lit: syn::Lit::Int(n),
                    ..
                }) => {
                    let n: u64 = n.base10_parse().unwrap_or(0);
                    json!({"type": "array", "items": item, "minItems": n, "maxItems": n})
                }
                _ => json!({"type": "array", "items": item}),
            }
        }
        Type::Paren(inner) => schema(&inner.elem, named),
        Type::Group(inner) => schema(&inner.elem, named),
        Type::Path(path) if path.qself.is_none() => path_schema(ty, path, named),
        _ => named_schema(ty, named),
    }
}

fn path_schema(ty: &Type, path: &syn::TypePath, named: &mut Named) -> Value {
    let Some(last) = path.path.segments.last() else {
        return named_schema(ty, named);
    };
    let args: Vec<&Type> = match &last.arguments {
        PathArguments::AngleBracketed(args) => args
            .args
            .iter()
            .filter_map(|a| match a {
                GenericArgument::Type(t) => Some(t),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    };
    let name = last.ident.to_string();
    match (name.as_str(), args.as_slice()) {
        ("bool", []) => json!({"type": "boolean"}),
        ("u8" | "u16" | "u32" | "u64" | "u128" | "usize", []) => {
            json!({"type": "integer", "minimum": 0, "description": name})
        }
        ("i8" | "i16" | "i32" | "i64" | "i128" | "isize", []) => {
            json!({"type": "integer", "description": name})
        }
        ("f32" | "f64", []) => json!({"type": "number", "description": name}),
        ("char", []) => json!({"type": "string", "minLength": 1, "maxLength": 1}),
        ("String" | "str", []) => json!({"type": "string"}),
        ("Option", [inner]) => json!({"oneOf": [schema(inner, named), {"type": "null"}]}),
        ("Box" | "Arc" | "Rc", [inner]) => schema(inner, named),
        ("Vec" | "VecDeque" | "HashSet" | "BTreeSet", [inner]) => {
            json!({"type": "array", "items": schema(inner, named)})
        }
        ("HashMap" | "BTreeMap", [key, value]) if is_string(key) => {
            json!({"type": "object", "additionalProperties": schema(value, named)})
        }
        _ => named_schema(ty, named),
    }
}

fn is_string(ty: &Type) -> bool {
    matches!(ty, Type::Path(p) if p.path.segments.last().is_some_and(|s| s.ident == "String"))
}

/// A reference to a named schema describing the Rust type by name.
fn named_schema(ty: &Type, named: &mut Named) -> Value {
    let rust = type_to_string(ty);
    let name: String = rust
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    named.entry(name.clone()).or_insert_with(|| {
        json!({
            "title": rust,
            "description": format!("The Rust type `{rust}`: see its definition in the source."),
        })
    });
    json!({"$ref": format!("#/components/schemas/{name}")})
}

#[cfg(test)]
mod tests {
    use super::*;

    fn of(ty: Type) -> (Value, Named) {
        let mut named = Named::new();
        (schema(&ty, &mut named), named)
    }

    #[test]
    fn simple_types_get_schemas_and_others_names() {
        assert_eq!(
            of(syn::parse_quote!(u32)).0,
            json!({"type": "integer", "minimum": 0, "description": "u32"})
        );
        assert_eq!(
            of(syn::parse_quote!(Option<String>)).0,
            json!({"oneOf": [{"type": "string"}, {"type": "null"}]})
        );
        assert_eq!(
            of(syn::parse_quote!(Vec<bool>)).0,
            json!({"type": "array", "items": {"type": "boolean"}})
        );
        let (value, named) = of(syn::parse_quote!(Vec<Volume>));
        assert_eq!(
            value,
            json!({"type": "array", "items": {"$ref": "#/components/schemas/Volume"}})
        );
        assert!(named.contains_key("Volume"));
        let (value, named) = of(syn::parse_quote!(my::Thing<u8>));
        assert_eq!(value, json!({"$ref": "#/components/schemas/my__Thing_u8_"}));
        assert_eq!(named["my__Thing_u8_"]["title"], json!("my::Thing<u8>"));
    }
}
