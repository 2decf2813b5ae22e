//! What the broker's refusals mean to a caller. RabbitMQ refuses by closing
//! the channel (or the connection) with a code and a text; amqprs only
//! reports that the channel is gone. The text, read from the channel's
//! events ([`super::callback::close_reason`]), says why:
//!
//! - `403 ACCESS_REFUSED - access to queue 'x' in vhost 'y' refused for
//!   user 'z'`: [`RpcError::PermissionDenied`], naming the resource and
//!   the permission the operation needs (not a connection problem: retrying
//!   does not help);
//! - `406 PRECONDITION_FAILED - message size 2097152 is larger than
//!   configured max size 1048576`: [`RpcError::TooLarge`].

use crate::error::RpcError;

/// Who a connection acts as: what a permission refusal names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Identity {
    pub(crate) user: String,
    pub(crate) vhost: String,
}

/// The permission an operation needs on the resource a refusal names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Needs {
    /// Declaring (or deleting) an exchange or queue.
    Configure,
    /// Publishing to an exchange.
    Write,
    /// Consuming or getting from a queue.
    Read,
    /// Binding: write on the queue, read on the exchange.
    Bind,
}

/// The error a close (`code`, `text`) means, if it is a refusal we know.
pub(crate) fn refusal(code: u16, text: &str, who: &Identity, needs: Needs) -> Option<RpcError> {
    match code {
        403 => {
            let resource = between(text, "access to ", " in vhost")
                .unwrap_or("a resource")
                .to_owned();
            let permission = match needs {
                Needs::Configure => "configure",
                Needs::Write => "write",
                Needs::Read => "read",
                Needs::Bind if resource.starts_with("queue") => "write",
                Needs::Bind => "read",
            };
            Some(RpcError::PermissionDenied {
                user: who.user.clone(),
                vhost: who.vhost.clone(),
                resource,
                permission: permission.to_owned(),
            })
        }
        406 => {
            let size = between(text, "message size ", " is larger")?.parse().ok()?;
            let limit = after_number(text, "configured max size ")?;
            Some(RpcError::TooLarge { size, limit })
        }
        _ => None,
    }
}

/// `error` (an operation on a channel failed), or what the broker's
/// `reason` for closing the channel says it was; the permission is the
/// one the failed operation (named in `error`) needs.
pub(crate) fn explained(error: RpcError, reason: Option<&str>, who: &Identity) -> RpcError {
    let Some(reason) = reason else {
        return error;
    };
    let said = error.to_string();
    let needs = if said.contains("binding") {
        Needs::Bind
    } else if said.contains("consuming") || said.contains("getting") {
        Needs::Read
    } else if said.contains("publishing") {
        Needs::Write
    } else {
        Needs::Configure
    };
    let (code, text) = split_reason(reason);
    refusal(code, text, who, needs).unwrap_or(error)
}

/// The text between `start` and `end`.
fn between<'t>(text: &'t str, start: &str, end: &str) -> Option<&'t str> {
    let (_, rest) = text.split_once(start)?;
    Some(rest.split_once(end)?.0)
}

/// The number right after `prefix`.
pub(super) fn after_number(text: &str, prefix: &str) -> Option<u64> {
    let (_, rest) = text.split_once(prefix)?;
    let end = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    rest[..end].parse().ok()
}

/// A close reason as [`super::callback::close_reason`] gives it (`403
/// ACCESS_REFUSED - ...`), split into its code and text.
pub(crate) fn split_reason(reason: &str) -> (u16, &str) {
    match reason.split_once(' ') {
        Some((code, text)) => (code.parse().unwrap_or(0), text),
        None => (0, reason),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alice() -> Identity {
        Identity {
            user: "alice".into(),
            vhost: "/".into(),
        }
    }

    #[test]
    fn a_403_names_the_resource_and_the_permission() {
        let text =
            "ACCESS_REFUSED - access to queue 'volume' in vhost '/' refused for user 'alice'";
        let denied = refusal(403, text, &alice(), Needs::Bind).unwrap();
        assert_eq!(
            denied,
            RpcError::PermissionDenied {
                user: "alice".into(),
                vhost: "/".into(),
                resource: "queue 'volume'".into(),
                permission: "write".into(),
            }
        );
        assert!(
            denied
                .to_string()
                .contains("write permission on queue 'volume'")
        );
        let garbled = refusal(403, "ACCESS_REFUSED", &alice(), Needs::Read).unwrap();
        assert!(
            garbled
                .to_string()
                .contains("read permission on a resource")
        );
    }

    #[test]
    fn a_406_for_size_is_too_large_and_others_are_not_known() {
        let text =
            "PRECONDITION_FAILED - message size 2097152 is larger than configured max size 1048576";
        assert_eq!(
            refusal(406, text, &alice(), Needs::Write),
            Some(RpcError::TooLarge {
                size: 2_097_152,
                limit: 1_048_576
            })
        );
        let other = "PRECONDITION_FAILED - inequivalent arg 'durable'";
        assert_eq!(refusal(406, other, &alice(), Needs::Configure), None);
        assert_eq!(refusal(404, "NOT_FOUND", &alice(), Needs::Read), None);
        assert_eq!(
            split_reason("403 ACCESS_REFUSED - x"),
            (403, "ACCESS_REFUSED - x")
        );
    }
}
