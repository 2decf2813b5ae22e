//! The checked model of one `#[rpc_service]` trait.
//!
//! Everything here has passed the checks in [`crate::parse`]: a code or doc
//! generator can rely on it without checking again.

use std::fmt;

use proc_macro2::Span;
use syn::ext::IdentExt;
use syn::{Attribute, Ident, Type, Visibility};

/// One RPC service: the trait, its topic and its methods.
#[derive(Debug, Clone)]
pub struct Service {
    /// The trait's name, e.g. `VolumeManager`.
    pub ident: Ident,
    /// The trait's visibility, reused for the generated client and service.
    pub vis: Visibility,
    /// The default AMQP topic, e.g. `volume`.
    pub topic: String,
    /// The API version the service speaks (`1.0` unless given).
    pub version: Version,
    /// The namespace its requests name (oslo's `Target.namespace`), if any.
    pub namespace: Option<String>,
    /// The trait's doc comment, one entry per line, leading space removed.
    pub docs: Vec<String>,
    /// The trait's other attributes, kept on the emitted trait.
    pub attrs: Vec<Attribute>,
    /// The methods, in declaration order.
    pub methods: Vec<Method>,
}

impl Service {
    /// `VolumeManager` -> `VolumeManagerClient`.
    pub fn client_ident(&self) -> Ident {
        self.suffixed("Client")
    }

    /// `VolumeManager` -> `VolumeManagerFanout` (the cast-only fanout handle).
    pub fn fanout_ident(&self) -> Ident {
        self.suffixed("Fanout")
    }

    /// `VolumeManager` -> `VolumeManagerService` (the server-side dispatcher).
    pub fn service_ident(&self) -> Ident {
        self.suffixed("Service")
    }

    fn suffixed(&self, suffix: &str) -> Ident {
        Ident::new(&format!("{}{suffix}", self.ident), self.ident.span())
    }

    /// The cast methods, in declaration order.
    pub fn casts(&self) -> impl Iterator<Item = &Method> {
        self.methods.iter().filter(|m| m.is_cast())
    }
}

/// Whether the caller waits for an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MethodKind {
    /// Request and reply: the caller waits for the result.
    Call,
    /// One-way: returns once the broker confirmed the message.
    Cast,
    /// The caller reads a stream of items: `-> RpcStream<T, E>`.
    Stream,
}

impl MethodKind {
    /// `"call"` or `"cast"`.
    pub fn as_str(self) -> &'static str {
        match self {
            MethodKind::Call => "call",
            MethodKind::Cast => "cast",
            MethodKind::Stream => "stream",
        }
    }
}

/// One RPC method of the trait.
#[derive(Debug, Clone)]
pub struct Method {
    /// The method's name; also its name on the wire.
    pub ident: Ident,
    /// Call or cast.
    pub kind: MethodKind,
    /// The API version that introduced the method (`#[rpc(since = "3.1")]`).
    pub since: Option<Version>,
    /// The doc comment, one entry per line.
    pub docs: Vec<String>,
    /// Attributes other than `#[rpc]` and docs, kept on the emitted method.
    pub attrs: Vec<Attribute>,
    /// The name the user gave the context argument.
    pub ctx_ident: Ident,
    /// The context argument's type as written (`&Context`).
    pub ctx_ty: Type,
    /// The arguments after the context.
    pub args: Vec<Arg>,
    /// What the manager returns.
    pub output: Output,
    /// Span of the whole signature, for errors about the method as a whole.
    pub span: Span,
}

impl Method {
    /// True for `#[rpc(cast)]` methods.
    pub fn is_cast(&self) -> bool {
        self.kind == MethodKind::Cast
    }

    /// The method's name on the wire: its identifier, without the `r#` of
    /// a raw identifier (`r#type` is `type`).
    pub fn name(&self) -> String {
        self.ident.unraw().to_string()
    }
}

/// One argument of an RPC method (after the context).
#[derive(Debug, Clone)]
pub struct Arg {
    /// The argument's identifier.
    pub ident: Ident,
    /// The argument's type.
    pub ty: Type,
}

impl Arg {
    /// The argument's name on the wire (a field of the request), without
    /// the `r#` of a raw identifier.
    pub fn name(&self) -> String {
        self.ident.unraw().to_string()
    }
}

/// The return type of a manager method.
#[derive(Debug, Clone)]
#[allow(clippy::large_enum_variant)] // built once per method, at compile time
pub enum Output {
    /// Nothing (`()`), the only choice for a cast.
    Unit,
    /// A value the manager always produces: `-> Option<Volume>`.
    Value(Type),
    /// `-> Result<T, E>`: `E` is the service's typed error.
    Fallible {
        /// The success type `T`.
        ok: Type,
        /// The error type `E`.
        err: Type,
    },
    /// `-> RpcStream<T, E>`: items `T`, ending with `E` on failure.
    Stream {
        /// The item type `T`.
        item: Type,
        /// The error type `E`.
        err: Type,
    },
}

/// An RPC API version, `major.minor`, with oslo.messaging's compatibility rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Version {
    /// Incompatible changes bump this.
    pub major: u32,
    /// Compatible additions bump this.
    pub minor: u32,
}

impl Version {
    /// Parses `"3.1"`; a missing or non-numeric part is an error message.
    pub fn parse(text: &str) -> Result<Self, String> {
        let bad = || format!("`{text}` is not a version: expected `major.minor`, e.g. \"1.0\"");
        let (major, minor) = text.split_once('.').ok_or_else(bad)?;
        let number = |s: &str| {
            if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad());
            }
            s.parse::<u32>().map_err(|_| bad())
        };
        Ok(Self {
            major: number(major)?,
            minor: number(minor)?,
        })
    }
}

impl Default for Version {
    fn default() -> Self {
        Self { major: 1, minor: 0 }
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

#[cfg(test)]
mod tests {
    use super::Version;

    #[test]
    fn versions_parse_and_reject() {
        assert_eq!(
            Version::parse("3.12"),
            Ok(Version {
                major: 3,
                minor: 12
            })
        );
        for bad in ["3", "3.", ".1", "a.b", "3.1.2", "-1.0", "+1.0"] {
            assert!(Version::parse(bad).is_err(), "{bad} should be refused");
        }
    }
}
