//! What a service is, as data: topic, version, methods and their arguments.
//!
//! The macro writes one `static` [`ServiceDescriptor`] per trait. The runtime
//! reads it to refuse unknown methods before decoding anything, and tools
//! (`rpcctl describe`, the docs generator) read the same facts.

/// A service as the macro saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServiceDescriptor {
    /// The trait's name, e.g. `VolumeManager`.
    pub name: &'static str,
    /// The default topic, e.g. `volume`.
    pub topic: &'static str,
    /// The API version, `major.minor`.
    pub version: &'static str,
    /// The namespace requests name (oslo.messaging's `Target.namespace`),
    /// from `#[rpc_service(namespace = "...")]`.
    pub namespace: Option<&'static str>,
    /// The trait's doc comment.
    pub docs: &'static str,
    /// The methods, in declaration order.
    pub methods: &'static [MethodDescriptor],
}

impl ServiceDescriptor {
    /// The method called `name`, if the service has one.
    pub fn method(&self, name: &str) -> Option<&'static MethodDescriptor> {
        self.methods.iter().find(|m| m.name == name)
    }
}

/// Call (the caller waits for the reply) or cast (one-way).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MethodKind {
    /// The caller waits for a reply.
    Call,
    /// One-way; confirmed by the broker, not by the server.
    Cast,
    /// The caller reads a stream of items (see [`crate::stream`]).
    Stream,
}

/// One method of a service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MethodDescriptor {
    /// The method's name, on the wire too.
    pub name: &'static str,
    /// Call or cast.
    pub kind: MethodKind,
    /// The version that introduced the method, if not the first one.
    pub since: Option<&'static str>,
    /// The arguments after the context.
    pub args: &'static [ArgDescriptor],
    /// The success type as written (`()` for casts and unit calls; a
    /// stream's item type).
    pub returns: &'static str,
    /// The manager's error type, for `Result<T, E>` methods.
    pub error: Option<&'static str>,
    /// The method's doc comment.
    pub docs: &'static str,
}

/// One argument of a method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArgDescriptor {
    /// The argument's name, the field name on the wire.
    pub name: &'static str,
    /// Its type as written.
    pub ty: &'static str,
}

impl ArgDescriptor {
    /// Whether a caller may leave the argument out: its type is an
    /// `Option`, which a request without it reads as `None` (see
    /// [`optional_type`]).
    pub fn optional(&self) -> bool {
        optional_type(self.ty)
    }
}

/// Whether an argument of type `ty`, as written (`Option<String>`,
/// `std::option::Option<u32>`), may be left out of a request by name: the
/// arguments decode it as `None`, as serde decodes a struct's missing
/// `Option` field. Decided from the type as written (its last path segment
/// is `Option`; an alias of an `Option` counts as required), so that the
/// server's argument check, `rpcctl` (which reads the types from
/// `describe`) and the AsyncAPI `required` lists agree.
pub fn optional_type(ty: &str) -> bool {
    let ty = ty.trim();
    let Some((path, generics)) = ty.split_once('<') else {
        return false;
    };
    let last = path.rsplit("::").next().unwrap_or(path).trim();
    last == "Option" && generics.trim_end().ends_with('>')
}

#[cfg(test)]
mod tests {
    use super::optional_type;

    #[test]
    fn options_are_optional_and_nothing_else_is() {
        for ty in [
            "Option<String>",
            "Option<Vec<u8>>",
            "std::option::Option<u32>",
            "::core::option::Option<(u8, u8)>",
            " Option < String > ",
        ] {
            assert!(optional_type(ty), "{ty}");
        }
        for ty in [
            "String",
            "Vec<Option<u8>>",
            "MyOption<u8>",
            "Option",
            "&Option<u8>",
            "(Option<u8>, u8)",
            "HashMap<String, Option<u8>>",
        ] {
            assert!(!optional_type(ty), "{ty}");
        }
    }
}
