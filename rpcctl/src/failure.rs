//! Why rpcctl failed: one line for people, a JSON object under `--json`,
//! and the exit code (listed in `--help`).

use rpc_runtime::RpcError;
use serde_json::{Value, json};

/// Why rpcctl failed, and with which exit code.
#[derive(Debug)]
pub(crate) enum Failure {
    /// The method answered with an error: its message, and the error as
    /// JSON when it could be read (exit 1).
    Answered(String, Option<Value>),
    /// A usage mistake (exit 2).
    Usage(String),
    /// No answer: nobody listens there, the broker refused the message, or
    /// nobody answered in time (exit 3).
    NoAnswer(String),
    /// The broker cannot be reached (exit 4).
    BrokerDown(String),
    /// The broker refused the login (exit 5).
    LoginRefused(String),
    /// The broker refused the vhost (exit 6).
    VhostRefused(String),
    /// The servers speak the other wire format (exit 7).
    WrongWire(String),
    /// The broker denies the user a permission it needs (exit 8).
    PermissionDenied(String),
}

impl Failure {
    /// The process's exit code.
    pub(crate) fn code(&self) -> u8 {
        match self {
            Failure::Answered(..) => 1,
            Failure::Usage(_) => 2,
            Failure::NoAnswer(_) => 3,
            Failure::BrokerDown(_) => 4,
            Failure::LoginRefused(_) => 5,
            Failure::VhostRefused(_) => 6,
            Failure::WrongWire(_) => 7,
            Failure::PermissionDenied(_) => 8,
        }
    }

    /// The one line for people.
    pub(crate) fn message(&self) -> &str {
        match self {
            Failure::Answered(m, _)
            | Failure::Usage(m)
            | Failure::NoAnswer(m)
            | Failure::BrokerDown(m)
            | Failure::LoginRefused(m)
            | Failure::VhostRefused(m)
            | Failure::WrongWire(m)
            | Failure::PermissionDenied(m) => m,
        }
    }

    /// The `--json` form: `{"error": {"kind", "message", "exit", "value"?}}`.
    pub(crate) fn to_json(&self) -> Value {
        let kind = match self {
            Failure::Answered(..) => "method_error",
            Failure::Usage(_) => "usage",
            Failure::NoAnswer(_) => "no_answer",
            Failure::BrokerDown(_) => "broker_unreachable",
            Failure::LoginRefused(_) => "login_refused",
            Failure::VhostRefused(_) => "vhost_refused",
            Failure::WrongWire(_) => "wrong_wire",
            Failure::PermissionDenied(_) => "permission_denied",
        };
        let mut error = json!({"kind": kind, "message": self.message(), "exit": self.code()});
        if let (Failure::Answered(_, Some(value)), Some(map)) = (self, error.as_object_mut()) {
            map.insert("value".into(), value.clone());
        }
        json!({ "error": error })
    }
}

impl From<RpcError> for Failure {
    fn from(error: RpcError) -> Self {
        let text = error.to_string();
        match error {
            RpcError::Undeliverable { .. }
            | RpcError::Refused { .. }
            | RpcError::Timeout { .. }
            | RpcError::Unresponsive { .. }
            | RpcError::Unavailable { .. }
            | RpcError::Blocked { .. }
            | RpcError::TooLarge { .. }
            | RpcError::Overloaded { .. } => Failure::NoAnswer(text),
            RpcError::PermissionDenied { .. } => Failure::PermissionDenied(text),
            RpcError::Connection(_) | RpcError::Closed => Failure::BrokerDown(text),
            RpcError::Authentication { .. } => Failure::LoginRefused(text),
            RpcError::VhostRefused { .. } => Failure::VhostRefused(text),
            RpcError::WrongWire { .. } => Failure::WrongWire(text),
            // The server refused the request as sent.
            RpcError::BadRequest { .. }
            | RpcError::UnknownMethod { .. }
            | RpcError::VersionNotSupported { .. }
            | RpcError::WrongNamespace { .. }
            | RpcError::Config(_)
            | RpcError::Encode { .. }
            | RpcError::VersionCap { .. } => Failure::Usage(text),
            _ => Failure::Answered(text, None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_denied_permission_has_its_own_exit_code_and_names_the_resource() {
        let denied = RpcError::PermissionDenied {
            user: "nova".into(),
            vhost: "/".into(),
            resource: "exchange 'openstack'".into(),
            permission: "write".into(),
        };
        let failure = Failure::from(denied);
        assert_eq!(failure.code(), 8);
        assert!(
            failure
                .message()
                .contains("write permission on exchange 'openstack'")
        );
        assert_eq!(failure.to_json()["error"]["kind"], "permission_denied");
    }
}
