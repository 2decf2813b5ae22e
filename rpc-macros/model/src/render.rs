//! Renders types as a reader writes them (`Result<Volume, VolumeError>`),
//! for descriptors and generated docs.

use quote::ToTokens;
use syn::Type;

/// `Result < Vec < u8 > , E >` (token spacing) becomes `Result<Vec<u8>, E>`.
pub fn type_to_string(ty: &Type) -> String {
    tidy(&ty.to_token_stream().to_string())
}

fn tidy(tokens: &str) -> String {
    let mut out = String::with_capacity(tokens.len());
    let mut chars = tokens.chars().peekable();
    while let Some(c) = chars.next() {
        if c != ' ' {
            out.push(c);
            continue;
        }
        let prev = out.chars().last().unwrap_or(' ');
        let next = chars.peek().copied().unwrap_or(' ');
        let glue_prev = matches!(prev, '<' | '&' | ':' | '(' | '[' | '\'');
        let glue_next = matches!(next, '<' | '>' | ',' | ':' | ')' | ']' | ';');
        let keep = !(glue_prev || glue_next) || (prev == ';') || (prev == ',');
        if keep {
            out.push(' ');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::type_to_string;

    fn render(ty: syn::Type) -> String {
        type_to_string(&ty)
    }

    #[test]
    fn renders_like_source() {
        assert_eq!(
            render(syn::parse_quote!(Result<Vec<u8>, my::Error>)),
            "Result<Vec<u8>, my::Error>"
        );
        assert_eq!(render(syn::parse_quote!(&Context)), "&Context");
        assert_eq!(render(syn::parse_quote!((u32, String))), "(u32, String)");
        assert_eq!(render(syn::parse_quote!([u8; 4])), "[u8; 4]");
        assert_eq!(
            render(syn::parse_quote!(Option<&'static str>)),
            "Option<&'static str>"
        );
        assert_eq!(
            render(syn::parse_quote!(HashMap<String, Vec<u64>>)),
            "HashMap<String, Vec<u64>>"
        );
    }
}
