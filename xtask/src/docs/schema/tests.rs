//! The schema builder's unit tests.

use super::*;

fn defs() -> TypeDefs {
    let mut defs = TypeDefs::default();
    let file: syn::File = syn::parse_quote! {
        /// A volume.
        #[derive(Serialize, Deserialize)]
        struct Volume { id: u64, name: Option<String>, #[serde(skip)] cache: u8 }
        #[derive(Serialize, Deserialize)]
        enum SchedulerError { NoValidHost { size_gb: u32 }, Busy, Rpc(RpcError) }
        #[derive(Serialize, Deserialize)]
        #[serde(rename_all = "lowercase")]
        enum Level { Low, High }
        #[derive(Serialize, Deserialize)]
        #[serde(tag = "kind")]
        enum Event { Created { id: u64 }, Gone }
        #[derive(Serialize, Deserialize)]
        struct Tree { children: Vec<Tree> }
    };
    defs.add_file("src/lib.rs", &file);
    defs
}

fn of(defs: &TypeDefs, ty: Type) -> (Value, Named) {
    let mut schemas = Schemas::new(defs);
    let value = schemas.schema(&ty, "src/lib.rs");
    (value, schemas.named)
}

#[test]
fn standard_types_by_their_json_shape() {
    let defs = TypeDefs::default();
    assert_eq!(
        of(&defs, syn::parse_quote!(u32)).0,
        json!({"type": "integer", "minimum": 0, "description": "u32"})
    );
    assert_eq!(
        of(&defs, syn::parse_quote!(Option<String>)).0,
        json!({"oneOf": [{"type": "string"}, {"type": "null"}]})
    );
    assert_eq!(
        of(&defs, syn::parse_quote!(Vec<bool>)).0,
        json!({"type": "array", "items": {"type": "boolean"}})
    );
    let (value, named) = of(&defs, syn::parse_quote!(my::Thing<u8>));
    assert_eq!(value, json!({"$ref": "#/components/schemas/my__Thing_u8_"}));
    assert_eq!(named["my__Thing_u8_"]["title"], json!("my::Thing<u8>"));
}

#[test]
fn workspace_types_from_their_definitions() {
    let defs = defs();
    let (value, named) = of(&defs, syn::parse_quote!(Vec<Volume>));
    assert_eq!(
        value,
        json!({"type": "array", "items": {"$ref": "#/components/schemas/Volume"}})
    );
    let volume = &named["Volume"];
    assert_eq!(
        volume["description"],
        json!("A volume. (defined in `src/lib.rs`)")
    );
    assert_eq!(volume["required"], json!(["id"]), "Option is not required");
    assert!(volume["properties"].get("cache").is_none(), "skipped");

    let (_, named) = of(&defs, syn::parse_quote!(SchedulerError));
    let choices = named["SchedulerError"]["oneOf"].as_array().unwrap().clone();
    assert_eq!(choices[0]["required"], json!(["NoValidHost"]));
    assert_eq!(choices[1], json!({"const": "Busy"}));
    assert!(named.contains_key("RpcError"), "unknown types stay named");

    let (_, named) = of(&defs, syn::parse_quote!(Level));
    assert_eq!(named["Level"]["enum"], json!(["low", "high"]));
    let (_, named) = of(&defs, syn::parse_quote!(Event));
    assert_eq!(
        named["Event"]["oneOf"][1],
        json!({"type": "object", "properties": {"kind": {"const": "Gone"}}, "required": ["kind"]})
    );
    let (_, named) = of(&defs, syn::parse_quote!(Tree));
    assert_eq!(
        named["Tree"]["properties"]["children"]["items"],
        json!({"$ref": "#/components/schemas/Tree"})
    );
}
