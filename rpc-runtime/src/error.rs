//! The framework's error: everything that can go wrong between a caller and a
//! manager that is not the manager's own typed error.
//!
//! [`RpcError`] is serializable because it also travels back to the caller
//! when the server cannot run a request (unknown method, undecodable
//! arguments, a panic), and because a service's own error type usually wraps
//! it (`#[error(transparent)] Rpc(#[from] RpcError)`) so that one `?` covers
//! both.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// A failure of the RPC machinery rather than of the manager's logic.
///
/// Local failures (timeout, connection, encoding) and failures reported by
/// the remote server (unknown method, undecodable request, version, panic)
/// are separate variants, so a caller can tell them apart with `match`; see
/// [`RpcError::is_remote`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[non_exhaustive]
pub enum RpcError {
    /// A call got no reply in time (the request may still run on the
    /// server), or the broker did not confirm a cast in time (it may still
    /// be delivered: a cast that times out is in doubt, not lost).
    #[error("{}", timeout_text(.method, .destination, .timeout, *.awaited))]
    Timeout {
        /// The method that was called or cast.
        method: String,
        /// Where it was sent (`volume`, `volume.host-1`, `volume (fanout)`).
        destination: String,
        /// The timeout that elapsed.
        timeout: Duration,
        /// What did not arrive in time.
        awaited: Awaited,
    },
    /// The call or cast's deadline passed while the broker blocked
    /// publishing for a resource alarm (a node low on memory or disk): as
    /// with [`RpcError::Timeout`], a call may still run and a cast may still
    /// be delivered once the alarm clears. `rabbitmq-diagnostics alarms`
    /// shows the alarm.
    #[error(
        "{}; the broker blocks publishing ({alarm}: a resource alarm, see `rabbitmq-diagnostics alarms`)",
        timeout_text(.method, .destination, .timeout, *.awaited)
    )]
    Blocked {
        /// The method that was called or cast.
        method: String,
        /// Where it was sent.
        destination: String,
        /// The timeout that elapsed.
        timeout: Duration,
        /// What did not arrive in time.
        awaited: Awaited,
        /// The broker's reason (`low on memory`, `low on disk`).
        alarm: String,
    },
    /// A call with a call monitor heard no heartbeat from the server for
    /// `silence`: the server died or lost its connection mid-call.
    #[error("the server handling `{method}` went silent: no heartbeat for {silence:?}")]
    Unresponsive {
        /// The method that was called.
        method: String,
        /// How long the client waited without a heartbeat.
        silence: Duration,
    },
    /// The broker connection failed or was lost; the text never holds a password.
    #[error("broker connection failed: {0}")]
    Connection(String),
    /// The broker refused the user name or password of the connection.
    #[error(
        "the broker at {broker} refused the login of `{user}` (wrong user name or password?): {detail}"
    )]
    Authentication {
        /// The broker's host and port.
        broker: String,
        /// The user name that was refused (the password is never shown).
        user: String,
        /// What the broker said.
        detail: String,
    },
    /// The broker has no such virtual host, or does not let the user use it.
    #[error(
        "the broker at {broker} refused vhost `{vhost}` to `{user}` (missing, or no permission?): {detail}"
    )]
    VhostRefused {
        /// The broker's host and port.
        broker: String,
        /// The virtual host asked for.
        vhost: String,
        /// The user name.
        user: String,
        /// What the broker said.
        detail: String,
    },
    /// The broker refused an operation for lack of permission (`403
    /// ACCESS_REFUSED`): the user may not configure, write to or read from
    /// `resource` in `vhost`. Retrying does not help; an operator grants
    /// it (`rabbitmqctl set_permissions`).
    #[error(
        "the broker denies `{user}` {permission} permission on {resource} in vhost `{vhost}` (see `rabbitmqctl list_permissions -p {vhost}`)"
    )]
    PermissionDenied {
        /// The user the broker refused.
        user: String,
        /// The virtual host.
        vhost: String,
        /// What was refused, as the broker names it (`exchange 'nova'`,
        /// `queue 'reply_…'`).
        resource: String,
        /// The permission that would allow it: `configure`, `write` or `read`.
        permission: String,
    },
    /// The broker refused the message for its size (RabbitMQ's
    /// `max_message_size`): it was not delivered; other messages are not
    /// affected. Once the broker said its limit, larger messages are
    /// refused before they are sent.
    #[error(
        "the message of {size} bytes is larger than the broker accepts ({limit} bytes, its max_message_size)"
    )]
    TooLarge {
        /// The body's size.
        size: u64,
        /// The broker's limit.
        limit: u64,
    },
    /// A queue exists for the destination but cannot take messages now (the
    /// cluster node that holds it is down): unlike
    /// [`RpcError::Undeliverable`], a server does listen there.
    #[error("`{queue}` exists but is unavailable: {detail}")]
    Unavailable {
        /// The queue.
        queue: String,
        /// What the broker said about it.
        detail: String,
    },
    /// Nothing took the message: no queue is bound for it, i.e. no server
    /// of that topic (or of that server name) exists.
    #[error("nobody listens on `{destination}`: no queue took the message")]
    Undeliverable {
        /// Where it was sent: the queue it was for (`volume`,
        /// `volume.host-9`), or a fanout's exchange (`volume_fanout`).
        destination: String,
    },
    /// The broker refused the message (a negative publisher confirm).
    #[error("the broker refused the message to `{destination}`")]
    Refused {
        /// Where it was sent (as for [`RpcError::Undeliverable`]).
        destination: String,
    },
    /// A value could not be encoded before sending.
    #[error("could not encode {what}: {detail}")]
    Encode {
        /// What was being encoded (`arguments of create_volume`, ...).
        what: String,
        /// The codec's message.
        detail: String,
    },
    /// A reply could not be decoded on the caller's side, or a received
    /// notification by its listener.
    #[error("could not decode {what}: {detail}")]
    Decode {
        /// What was being decoded.
        what: String,
        /// The codec's message.
        detail: String,
    },
    /// The server could not decode the request (arguments, headers or size).
    #[error("the server refused the request to `{method}`: {detail}")]
    BadRequest {
        /// The method named by the request, or `?` when it named none.
        method: String,
        /// Why the request was refused.
        detail: String,
    },
    /// The server has no such method on that topic.
    #[error("the `{topic}` server has no method `{method}`")]
    UnknownMethod {
        /// The topic the server serves.
        topic: String,
        /// The method that was asked for.
        method: String,
    },
    /// The server speaks an API version that cannot serve the request.
    #[error("version {requested} of `{topic}` is not supported: the server speaks {server}")]
    VersionNotSupported {
        /// The topic.
        topic: String,
        /// The version the request needs.
        requested: String,
        /// The version the server speaks.
        server: String,
    },
    /// The server's service has another namespace (oslo.messaging's
    /// `Target.namespace`) than the request names.
    #[error("the `{topic}` server serves {} but the request is for {}", namespace(.served), namespace(.requested))]
    WrongNamespace {
        /// The topic.
        topic: String,
        /// The namespace the request names.
        requested: Option<String>,
        /// The namespace of the service on that topic.
        served: Option<String>,
    },
    /// The server failed with an error this side has no type for: an
    /// exception raised by an oslo.messaging (Python) server, as its
    /// failure reply describes it.
    #[error("the server failed with {module}.{class}: {message}")]
    Remote {
        /// The exception's class, e.g. `VolumeNotFound`.
        class: String,
        /// Its module, e.g. `cinder.exception`.
        module: String,
        /// What it says (`str(exception)`).
        message: String,
        /// Its keyword arguments as a JSON object (`{}` without any).
        kwargs: String,
    },
    /// The method needs a newer API version than the client's version cap
    /// allows; nothing was sent.
    #[error("`{method}` needs version {required} but the client is capped at {cap}")]
    VersionCap {
        /// The method that was called.
        method: String,
        /// The version the method needs.
        required: String,
        /// The client's version cap.
        cap: String,
    },
    /// The manager panicked while handling the request (the panic's text
    /// is in the server's log), or the server could not send its reply;
    /// the server keeps serving.
    #[error("the server failed while handling `{method}`: {detail}")]
    Internal {
        /// The method being handled.
        method: String,
        /// What went wrong, as much as the server tells its callers.
        detail: String,
    },
    /// Too many calls of this transport wait for their replies already; the
    /// call was not sent (back-pressure instead of unbounded growth).
    #[error("{limit} calls already wait for replies on this transport; not sending more")]
    Overloaded {
        /// The transport's limit.
        limit: usize,
    },
    /// The request or reply came in the other wire format than the
    /// receiver speaks (a native message to an oslo.messaging server, or
    /// the other way around).
    #[error(
        "the receiver speaks the {served} wire but the message is in the {received} wire: {hint}"
    )]
    WrongWire {
        /// The wire the message was in.
        received: String,
        /// The wire the receiver speaks.
        served: String,
        /// The setting to change.
        hint: String,
    },
    /// The configuration (URL, names, options) is not usable.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// The transport or server was shut down.
    #[error("the transport is closed")]
    Closed,
}

impl RpcError {
    /// True when the remote server produced this error (it received the
    /// request but could not run it); false for failures on the caller's side.
    pub fn is_remote(&self) -> bool {
        matches!(
            self,
            RpcError::BadRequest { .. }
                | RpcError::WrongWire { .. }
                | RpcError::UnknownMethod { .. }
                | RpcError::VersionNotSupported { .. }
                | RpcError::WrongNamespace { .. }
                | RpcError::Internal { .. }
                | RpcError::Remote { .. }
        )
    }

    /// The variant's name in snake case (`timeout`, `unresponsive`,
    /// `connection`, ...): the `error.type` of spans and the `outcome`
    /// label of metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            RpcError::Timeout { .. } => "timeout",
            RpcError::Blocked { .. } => "blocked",
            RpcError::Unresponsive { .. } => "unresponsive",
            RpcError::Connection(_) => "connection",
            RpcError::Authentication { .. } => "authentication",
            RpcError::VhostRefused { .. } => "vhost_refused",
            RpcError::PermissionDenied { .. } => "permission_denied",
            RpcError::TooLarge { .. } => "too_large",
            RpcError::Unavailable { .. } => "unavailable",
            RpcError::Undeliverable { .. } => "undeliverable",
            RpcError::Refused { .. } => "refused",
            RpcError::Encode { .. } => "encode",
            RpcError::Decode { .. } => "decode",
            RpcError::BadRequest { .. } => "bad_request",
            RpcError::UnknownMethod { .. } => "unknown_method",
            RpcError::VersionNotSupported { .. } => "version_not_supported",
            RpcError::WrongNamespace { .. } => "wrong_namespace",
            RpcError::Remote { .. } => "remote",
            RpcError::VersionCap { .. } => "version_cap",
            RpcError::Internal { .. } => "internal",
            RpcError::Overloaded { .. } => "overloaded",
            RpcError::WrongWire { .. } => "wrong_wire",
            RpcError::Config(_) => "config",
            RpcError::Closed => "closed",
        }
    }

    /// Where a message published to `exchange` with `key` was going, for
    /// [`RpcError::Undeliverable`] and [`RpcError::Refused`]: the key (a
    /// queue's name, a topic), else the exchange (a fanout's).
    pub(crate) fn destination_of(exchange: &str, key: &str) -> String {
        if key.is_empty() { exchange } else { key }.to_owned()
    }

    pub(crate) fn connection(detail: impl std::fmt::Display) -> Self {
        RpcError::Connection(detail.to_string())
    }

    pub(crate) fn config(detail: impl Into<String>) -> Self {
        RpcError::Config(detail.into())
    }
}

/// What a [`RpcError::Timeout`] waited for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Awaited {
    /// The reply to a call.
    Reply,
    /// The broker's confirm of a cast.
    Confirm,
}

fn timeout_text(method: &str, destination: &str, timeout: &Duration, awaited: Awaited) -> String {
    match awaited {
        Awaited::Reply => format!("no reply to `{method}` from `{destination}` within {timeout:?}"),
        Awaited::Confirm => format!(
            "the broker did not confirm the cast `{method}` to `{destination}` within {timeout:?}; it may still be delivered"
        ),
    }
}

fn namespace(name: &Option<String>) -> String {
    match name {
        Some(name) => format!("namespace `{name}`"),
        None => "no namespace".to_owned(),
    }
}
