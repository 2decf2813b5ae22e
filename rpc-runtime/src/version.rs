//! oslo.messaging's RPC API version rule: a server speaking `major.minor`
//! serves a request for `M.m` when `M == major` and `m <= minor`.

use crate::error::RpcError;

/// Parses `"3.1"` into `(3, 1)`.
pub(crate) fn parse(text: &str) -> Option<(u32, u32)> {
    let (major, minor) = text.split_once('.')?;
    let number = |s: &str| {
        (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse::<u32>().ok())
            .flatten()
    };
    Some((number(major)?, number(minor)?))
}

/// Whether a server at `server` can serve a request needing `requested`.
pub(crate) fn is_compatible(server: &str, requested: &str) -> bool {
    match (parse(server), parse(requested)) {
        (Some((s_major, s_minor)), Some((r_major, r_minor))) => {
            s_major == r_major && r_minor <= s_minor
        }
        _ => false,
    }
}

/// The version a method without `since` needs: the service's `major.0`
/// (a method with `since` needs that version).
pub(crate) fn base(service_version: &str) -> String {
    let major = service_version.split('.').next().unwrap_or("1");
    format!("{major}.0")
}

/// The error a server replies with when it cannot serve `requested`.
pub(crate) fn unsupported(topic: &str, server: &str, requested: &str) -> RpcError {
    RpcError::VersionNotSupported {
        topic: topic.to_owned(),
        requested: requested.to_owned(),
        server: server.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follows_oslo_rules() {
        assert!(is_compatible("3.2", "3.0"));
        assert!(is_compatible("3.2", "3.2"));
        assert!(!is_compatible("3.2", "3.3"));
        assert!(!is_compatible("3.2", "2.0"));
        assert!(!is_compatible("3.2", "junk"));
        assert_eq!(base("3.2"), "3.0");
        assert_eq!(parse("10.20"), Some((10, 20)));
        assert_eq!(parse("1.-2"), None);
    }
}
