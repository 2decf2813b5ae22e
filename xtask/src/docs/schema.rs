//! JSON Schemas for argument and return types: the standard types by their
//! JSON shape (numbers, strings, options, sequences, maps, tuples), the
//! workspace's own serde types from their definitions (`types.rs`), any
//! other type as a named schema that says where it is not visible.
//!
//! The schemas describe the value's serde data model as JSON shows it: what
//! the oslo wire and the JSON codec carry, and what bincode encodes
//! positionally on the native wire.

use std::collections::BTreeMap;

use rpc_model::render::type_to_string;
use serde_json::{Map, Value, json};
use syn::{Fields, GenericArgument, PathArguments, Type};

use super::serde_attrs::{SerdeAttrs, rename_field, rename_variant};
use super::types::{Def, Located, TypeDefs, docs};

/// The named schemas a document refers to, by component name.
pub(crate) type Named = BTreeMap<String, Value>;

/// Builds schemas, collecting the named ones.
#[derive(Debug)]
pub(crate) struct Schemas<'a> {
    defs: &'a TypeDefs,
    /// The named schemas referred to so far.
    pub(crate) named: Named,
}

impl<'a> Schemas<'a> {
    pub(crate) fn new(defs: &'a TypeDefs) -> Self {
        Self {
            defs,
            named: Named::new(),
        }
    }

    /// The schema of `ty`, as written in `file`.
    pub(crate) fn schema(&mut self, ty: &Type, file: &str) -> Value {
        match ty {
            Type::Tuple(tuple) if tuple.elems.is_empty() => json!({"type": "null"}),
            Type::Tuple(tuple) => {
                let items: Vec<&Type> = tuple.elems.iter().collect();
                self.tuple(&items, file)
            }
            Type::Array(array) => {
                let item = self.schema(&array.elem, file);
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
            Type::Paren(inner) => self.schema(&inner.elem, file),
            Type::Group(inner) => self.schema(&inner.elem, file),
            Type::Reference(reference) => self.schema(&reference.elem, file),
            Type::Path(path) if path.qself.is_none() => self.path_schema(ty, path, file),
            _ => self.opaque(ty),
        }
    }

    fn tuple(&mut self, elems: &[&Type], file: &str) -> Value {
        let items: Vec<Value> = elems.iter().map(|t| self.schema(t, file)).collect();
        let len = items.len();
        json!({"type": "array", "items": items, "minItems": len, "maxItems": len})
    }

    fn path_schema(&mut self, ty: &Type, path: &syn::TypePath, file: &str) -> Value {
        let Some(last) = path.path.segments.last() else {
            return self.opaque(ty);
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
            ("Value", []) if type_to_string(ty).contains("json") => {
                json!({"description": "Any JSON value (serde_json::Value)."})
            }
            ("Duration", []) => json!({
                "type": "object",
                "description": "std::time::Duration",
                "properties": {"secs": {"type": "integer", "minimum": 0}, "nanos": {"type": "integer", "minimum": 0, "maximum": 999_999_999}},
                "required": ["secs", "nanos"],
            }),
            ("SystemTime", []) => json!({
                "type": "object",
                "description": "std::time::SystemTime",
                "properties": {"secs_since_epoch": {"type": "integer", "minimum": 0}, "nanos_since_epoch": {"type": "integer", "minimum": 0, "maximum": 999_999_999}},
                "required": ["secs_since_epoch", "nanos_since_epoch"],
            }),
            ("Option", [inner]) => json!({"oneOf": [self.schema(inner, file), {"type": "null"}]}),
            ("Box" | "Arc" | "Rc" | "Cow", [inner]) => self.schema(inner, file),
            ("Vec" | "VecDeque" | "HashSet" | "BTreeSet", [inner]) => {
                json!({"type": "array", "items": self.schema(inner, file)})
            }
            ("HashMap" | "BTreeMap", [key, value]) if is_string(key) => {
                json!({"type": "object", "additionalProperties": self.schema(value, file)})
            }
            (_, []) => match self.defs.find(&name, file) {
                Some(located) => self.defined(&name, located),
                None => self.opaque(ty),
            },
            _ => self.opaque(ty),
        }
    }

    /// A reference to the schema of a type defined in the workspace.
    fn defined(&mut self, name: &str, located: &Located) -> Value {
        let reference = json!({"$ref": format!("#/components/schemas/{name}")});
        if self.named.contains_key(name) {
            return reference;
        }
        // Placeholder first: a recursive type refers to itself.
        self.named.insert(name.to_owned(), json!({}));
        let mut schema = match self.shape(located) {
            Value::Object(map) => map,
            other => {
                let mut map = Map::new();
                map.insert("allOf".into(), json!([other]));
                map
            }
        };
        let mut head = Map::new();
        head.insert("title".into(), json!(name));
        let described = docs(located.def.attrs()).map_or_else(
            || format!("Defined in `{}`.", located.file),
            |d| format!("{d} (defined in `{}`)", located.file),
        );
        head.insert("description".into(), json!(described));
        schema.remove("description");
        head.extend(schema);
        self.named.insert(name.to_owned(), Value::Object(head));
        reference
    }

    fn shape(&mut self, located: &Located) -> Value {
        let container = SerdeAttrs::of(located.def.attrs());
        let file = located.file.as_str();
        if container.custom || !located.def.generics().params.is_empty() {
            return json!({"description": "Its JSON shape is written by hand (serde attributes or generics the docs do not follow)."});
        }
        match &located.def {
            Def::Struct(s) if container.transparent => match s.fields.iter().next() {
                Some(field) => self.schema(&field.ty, file),
                None => json!({"type": "null"}),
            },
            Def::Struct(s) => self.fields(&s.fields, &container, file),
            Def::Enum(e) => self.variants(e, &container, file),
        }
    }

    fn fields(&mut self, fields: &Fields, container: &SerdeAttrs, file: &str) -> Value {
        match fields {
            Fields::Unit => json!({"type": "null"}),
            Fields::Unnamed(unnamed) => {
                let kept: Vec<&Type> = unnamed
                    .unnamed
                    .iter()
                    .filter(|f| !SerdeAttrs::of(&f.attrs).skip)
                    .map(|f| &f.ty)
                    .collect();
                match kept.as_slice() {
                    [one] => self.schema(one, file),
                    many => self.tuple(many, file),
                }
            }
            Fields::Named(named) => {
                let mut properties = Map::new();
                let mut required = Vec::new();
                let mut flattened = Vec::new();
                for field in &named.named {
                    let attrs = SerdeAttrs::of(&field.attrs);
                    if attrs.skip {
                        continue;
                    }
                    if attrs.flatten {
                        flattened.push(self.schema(&field.ty, file));
                        continue;
                    }
                    let rust = field
                        .ident
                        .as_ref()
                        .map(|i| i.to_string().trim_start_matches("r#").to_owned())
                        .unwrap_or_default();
                    let key = attrs
                        .rename
                        .clone()
                        .unwrap_or_else(|| rename_field(&rust, container.rename_all.as_deref()));
                    let mut schema = self.schema(&field.ty, file);
                    if let (Some(text), Value::Object(map)) = (docs(&field.attrs), &mut schema)
                        && !map.contains_key("$ref")
                    {
                        map.insert("description".into(), json!(text));
                    }
                    // serde reads a missing Option as None.
                    if !(attrs.default || container.default || is_option(&field.ty)) {
                        required.push(json!(key));
                    }
                    properties.insert(key, schema);
                }
                let object =
                    json!({"type": "object", "properties": properties, "required": required});
                if flattened.is_empty() {
                    object
                } else {
                    flattened.insert(0, object);
                    json!({"allOf": flattened})
                }
            }
        }
    }

    fn variants(&mut self, item: &syn::ItemEnum, container: &SerdeAttrs, file: &str) -> Value {
        let rule = container.rename_all.as_deref();
        let mut choices = Vec::new();
        let mut all_unit = true;
        for variant in &item.variants {
            let attrs = SerdeAttrs::of(&variant.attrs);
            if attrs.skip {
                continue;
            }
            let name = attrs
                .rename
                .clone()
                .unwrap_or_else(|| rename_variant(&variant.ident.to_string(), rule));
            let unit = matches!(variant.fields, Fields::Unit);
            all_unit &= unit;
            let inner = self.fields(&variant.fields, &attrs, file);
            let choice = match (&container.tag, &container.content, container.untagged) {
                (_, _, true) => inner,
                (Some(tag), Some(content), _) => {
                    let mut properties = Map::new();
                    properties.insert(tag.clone(), json!({"const": name}));
                    let mut required = vec![json!(tag)];
                    if !unit {
                        properties.insert(content.clone(), inner);
                        required.push(json!(content));
                    }
                    json!({"type": "object", "properties": properties, "required": required})
                }
                (Some(tag), None, _) => {
                    let tagged = json!({"type": "object", "properties": {tag.as_str(): {"const": name}}, "required": [tag]});
                    if unit {
                        tagged
                    } else {
                        json!({"allOf": [tagged, inner]})
                    }
                }
                (None, _, false) if unit => json!({"const": name}),
                (None, _, false) => json!({
                    "type": "object",
                    "properties": {name.as_str(): inner},
                    "required": [name],
                    "additionalProperties": false,
                }),
            };
            choices.push(choice);
        }
        let plain = container.tag.is_none() && !container.untagged;
        if all_unit && plain {
            let names: Vec<Value> = choices
                .into_iter()
                .filter_map(|c| c.get("const").cloned())
                .collect();
            return json!({"enum": names});
        }
        json!({"oneOf": choices})
    }

    /// A type the docs cannot see: named after the Rust type.
    fn opaque(&mut self, ty: &Type) -> Value {
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
        self.named.entry(name.clone()).or_insert_with(|| {
            json!({
                "title": rust,
                "description": format!("The Rust type `{rust}`, defined outside the workspace: its JSON shape is its serde implementation's."),
            })
        });
        json!({"$ref": format!("#/components/schemas/{name}")})
    }
}

fn is_string(ty: &Type) -> bool {
    matches!(ty, Type::Path(p) if p.path.segments.last().is_some_and(|s| s.ident == "String"))
}

/// Whether `ty` is an `Option`, which serde reads as `None` when missing.
pub(crate) fn is_option(ty: &Type) -> bool {
    matches!(ty, Type::Path(p) if p.path.segments.last().is_some_and(|s| s.ident == "Option"))
}

#[cfg(test)]
mod tests;
