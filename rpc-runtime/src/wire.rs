//! The wire mapping: how a request or a reply becomes a [`Message`].
//!
//! Everything the runtime knows about header names and body layout is in
//! this module, behind [`WireFormat`]. [`NativeWire`] is the default: routing
//! facts in AMQP headers, arguments as one codec-encoded body. oslo.messaging's
//! JSON envelope is a second implementation of the same trait.
//!
//! Native headers (all strings):
//!
//! | header | on | meaning |
//! |---|---|---|
//! | `x-rpc-method` | request | the method name |
//! | `x-rpc-version` | request | the API version the request needs, `major.minor` |
//! | `x-rpc-timeout` | request | how long the caller waits, in ms from when the server receives it (relative, so clock skew between hosts does not matter) |
//! | `x-request-id`, `x-user-id`, `x-project-id` | request | context fields |
//! | `x-roles` | request | context roles, comma separated |
//! | `x-auth-token` | request | context auth token |
//! | `x-ctx-<key>` | request | free-form context values |
//! | `traceparent` | request | W3C trace context: the caller's trace, a new span id |
//! | `x-rpc-call-monitor` | request | ask for heartbeats: the caller gives up after this many ms without one |
//! | `x-event-type`, `x-publisher-id`, `x-priority` (`INFO`), `x-message-id`, `x-timestamp` (Unix ms) | notification | the notification's envelope (with the context headers; the body is the payload) |
//! | `x-rpc-status` | reply | `ok` (value), `error` (manager's error), `failure` (framework error), `heartbeat` (still working) |

use std::fmt::Debug;
use std::time::{Duration, SystemTime};

use crate::codec::{AnyCodec, Codec};
use crate::context::{Context, new_request_id};
use crate::error::RpcError;
use crate::message::{Headers, Message};
use crate::notify::Priority;
use crate::secret::Secret;
use crate::trace::TraceParent;

/// A request on its way out, body already encoded.
#[derive(Debug)]
pub struct OutgoingRequest<'a> {
    /// The method to run.
    pub method: &'a str,
    /// The API version the request needs.
    pub version: &'a str,
    /// The caller's context.
    pub context: &'a Context,
    /// How long the caller waits (calls only).
    pub timeout: Option<Duration>,
    /// Heartbeats wanted: the caller gives up after this long without one.
    pub call_monitor: Option<Duration>,
    /// The encoded arguments.
    pub body: Vec<u8>,
}

/// A request as a server reads it.
#[derive(Debug)]
pub struct IncomingRequest {
    /// The method to run.
    pub method: String,
    /// The API version the request needs, if it says.
    pub version: Option<String>,
    /// The caller's context, deadline included.
    pub context: Context,
    /// The encoded arguments.
    pub body: Vec<u8>,
    /// The codec the body is in (named by its content type); replies use it too.
    pub codec: AnyCodec,
}

/// A notification on its way out, payload already encoded.
#[derive(Debug)]
pub struct OutgoingNotification<'a> {
    /// Its priority.
    pub priority: Priority,
    /// What happened, e.g. `volume.create.end`.
    pub event_type: &'a str,
    /// Who says so, e.g. `volume.host-1`.
    pub publisher_id: &'a str,
    /// A unique id.
    pub message_id: &'a str,
    /// When it was emitted.
    pub timestamp: SystemTime,
    /// The context of the request that caused it.
    pub context: &'a Context,
    /// The encoded payload.
    pub payload: Vec<u8>,
}

/// A notification as a listener reads it.
#[derive(Debug)]
pub struct IncomingNotification {
    /// Its priority.
    pub priority: Priority,
    /// What happened.
    pub event_type: String,
    /// Who says so.
    pub publisher_id: String,
    /// Its unique id.
    pub message_id: String,
    /// When it was emitted.
    pub timestamp: SystemTime,
    /// The context it carried.
    pub context: Context,
    /// The encoded payload.
    pub payload: Vec<u8>,
    /// The codec the payload is in.
    pub codec: AnyCodec,
}

/// What a server sends back for a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplyBody {
    /// The manager's value, encoded.
    Value(Vec<u8>),
    /// The manager's typed error, encoded.
    Error(Vec<u8>),
    /// The framework could not run the request.
    Failure(RpcError),
}

/// Maps requests and replies to messages and back. Decoding sees untrusted
/// input: it returns errors, never panics.
pub trait WireFormat: Send + Sync + Debug + 'static {
    /// The codec bodies use.
    fn codec(&self) -> &AnyCodec;

    /// Builds the message of a request (the transport adds reply routing).
    fn encode_request(&self, request: OutgoingRequest<'_>) -> Message;

    /// Reads a request. On error, the method name if it could be read, for
    /// the error reply.
    fn decode_request(&self, message: Message) -> Result<IncomingRequest, RpcError>;

    /// Builds the message of a reply in `codec` (the request's; the
    /// transport adds the correlation id).
    fn encode_reply(&self, reply: ReplyBody, codec: &AnyCodec) -> Message;

    /// Reads a reply.
    fn decode_reply(&self, message: Message) -> Result<ReplyBody, RpcError>;

    /// How long the caller of this request waits without a heartbeat, if it
    /// asked for heartbeats.
    fn call_monitor(&self, request: &Message) -> Option<Duration>;

    /// A heartbeat: "still working on it" (the transport adds the correlation id).
    fn encode_heartbeat(&self) -> Message;

    /// Whether a message on the reply path is a heartbeat.
    fn is_heartbeat(&self, reply: &Message) -> bool;

    /// Builds the message of a notification.
    fn encode_notification(&self, notification: OutgoingNotification<'_>) -> Message;

    /// Reads a notification.
    fn decode_notification(&self, message: Message) -> Result<IncomingNotification, RpcError>;
}

const METHOD: &str = "x-rpc-method";
const VERSION: &str = "x-rpc-version";
const TIMEOUT: &str = "x-rpc-timeout";
const REQUEST_ID: &str = "x-request-id";
const USER_ID: &str = "x-user-id";
const PROJECT_ID: &str = "x-project-id";
const ROLES: &str = "x-roles";
const AUTH_TOKEN: &str = crate::message::SECRET_HEADER;
const VALUE_PREFIX: &str = "x-ctx-";
const STATUS: &str = "x-rpc-status";
const TRACEPARENT: &str = "traceparent";
const CALL_MONITOR: &str = "x-rpc-call-monitor";
const EVENT_TYPE: &str = "x-event-type";
const PUBLISHER_ID: &str = "x-publisher-id";
const PRIORITY: &str = "x-priority";
const MESSAGE_ID: &str = "x-message-id";
const TIMESTAMP: &str = "x-timestamp";
const HEARTBEAT: &str = "heartbeat";

/// The native wire format: headers + one codec-encoded body.
#[derive(Debug, Clone, Default)]
pub struct NativeWire {
    codec: AnyCodec,
}

impl NativeWire {
    /// A native wire format with the given body codec.
    pub fn new(codec: AnyCodec) -> Self {
        Self { codec }
    }
}

impl WireFormat for NativeWire {
    fn codec(&self) -> &AnyCodec {
        &self.codec
    }

    fn encode_request(&self, request: OutgoingRequest<'_>) -> Message {
        let mut headers = Headers::new();
        headers.insert(METHOD, request.method);
        headers.insert(VERSION, request.version);
        if let Some(timeout) = request.timeout {
            headers.insert(TIMEOUT, timeout.as_millis().to_string());
        }
        if let Some(monitor) = request.call_monitor {
            headers.insert(CALL_MONITOR, monitor.as_millis().to_string());
        }
        encode_context(request.context, &mut headers);
        Message {
            content_type: Some(self.codec.content_type().to_owned()),
            headers,
            body: request.body,
            ..Message::default()
        }
    }

    fn decode_request(&self, message: Message) -> Result<IncomingRequest, RpcError> {
        let headers = &message.headers;
        let method = headers.get(METHOD).ok_or_else(|| RpcError::BadRequest {
            method: "?".into(),
            detail: format!("the `{METHOD}` header is missing"),
        })?;
        let bad = |detail: String| RpcError::BadRequest {
            method: method.to_owned(),
            detail,
        };
        let codec = self.codec_of(&message).map_err(bad)?;
        let deadline = match headers.get(TIMEOUT) {
            None => None,
            Some(text) => {
                let ms: u64 = text
                    .parse()
                    .map_err(|_| bad(format!("`{TIMEOUT}` is not a number of milliseconds")))?;
                // The budget counts from when the transport received the message.
                let waited = message
                    .received_at
                    .map(|at| at.elapsed())
                    .unwrap_or_default();
                let left = Duration::from_millis(ms).saturating_sub(waited);
                SystemTime::now().checked_add(left)
            }
        };
        let mut context = decode_context(headers);
        context.set_deadline(deadline);
        Ok(IncomingRequest {
            method: method.to_owned(),
            version: headers.get(VERSION).map(str::to_owned),
            context,
            body: message.body,
            codec,
        })
    }

    fn encode_reply(&self, reply: ReplyBody, codec: &AnyCodec) -> Message {
        let (status, body) = match reply {
            ReplyBody::Value(body) => ("ok", body),
            ReplyBody::Error(body) => ("error", body),
            ReplyBody::Failure(error) => match codec.encode(&error) {
                Ok(body) => ("failure", body),
                Err(_) => ("failure", Vec::new()),
            },
        };
        let mut message = self.status_message(status, body);
        message.content_type = Some(codec.content_type().to_owned());
        message
    }

    fn decode_reply(&self, message: Message) -> Result<ReplyBody, RpcError> {
        let decode_error = |detail: String| RpcError::Decode {
            what: "the reply".into(),
            detail,
        };
        let codec = self.codec_of(&message).map_err(decode_error)?;
        match message.headers.get(STATUS) {
            Some("ok") => Ok(ReplyBody::Value(message.body)),
            Some("error") => Ok(ReplyBody::Error(message.body)),
            Some("failure") => codec
                .decode::<RpcError>(&message.body)
                .map(ReplyBody::Failure)
                .map_err(|e| decode_error(format!("undecodable failure: {e}"))),
            Some(other) => Err(decode_error(format!("unknown `{STATUS}` `{other}`"))),
            None => Err(decode_error(format!("the `{STATUS}` header is missing"))),
        }
    }

    fn call_monitor(&self, request: &Message) -> Option<Duration> {
        let ms: u64 = request.headers.get(CALL_MONITOR)?.parse().ok()?;
        Some(Duration::from_millis(ms))
    }

    fn encode_heartbeat(&self) -> Message {
        self.status_message(HEARTBEAT, Vec::new())
    }

    fn is_heartbeat(&self, reply: &Message) -> bool {
        reply.headers.get(STATUS) == Some(HEARTBEAT)
    }

    fn encode_notification(&self, notification: OutgoingNotification<'_>) -> Message {
        let mut headers = Headers::new();
        headers.insert(EVENT_TYPE, notification.event_type);
        headers.insert(PUBLISHER_ID, notification.publisher_id);
        headers.insert(PRIORITY, notification.priority.name());
        headers.insert(MESSAGE_ID, notification.message_id);
        let ms = notification
            .timestamp
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis();
        headers.insert(TIMESTAMP, ms.to_string());
        encode_context(notification.context, &mut headers);
        Message {
            content_type: Some(self.codec.content_type().to_owned()),
            persistent: true,
            headers,
            body: notification.payload,
            ..Message::default()
        }
    }

    fn decode_notification(&self, message: Message) -> Result<IncomingNotification, RpcError> {
        let headers = &message.headers;
        let bad = |detail: String| RpcError::BadRequest {
            method: "(notification)".into(),
            detail,
        };
        let codec = self.codec_of(&message).map_err(bad)?;
        let field = |name: &str| {
            headers
                .get(name)
                .map(str::to_owned)
                .ok_or_else(|| bad(format!("the `{name}` header is missing")))
        };
        let priority = field(PRIORITY)?;
        let priority = Priority::from_name(&priority)
            .ok_or_else(|| bad(format!("`{priority}` is not a notification priority")))?;
        let ms: u64 = field(TIMESTAMP)?
            .parse()
            .map_err(|_| bad(format!("`{TIMESTAMP}` is not a number of milliseconds")))?;
        Ok(IncomingNotification {
            priority,
            event_type: field(EVENT_TYPE)?,
            publisher_id: field(PUBLISHER_ID)?,
            message_id: field(MESSAGE_ID)?,
            timestamp: std::time::UNIX_EPOCH + Duration::from_millis(ms),
            context: decode_context(headers),
            payload: message.body,
            codec,
        })
    }
}

impl NativeWire {
    fn status_message(&self, status: &str, body: Vec<u8>) -> Message {
        let mut headers = Headers::new();
        headers.insert(STATUS, status);
        Message {
            content_type: Some(self.codec.content_type().to_owned()),
            headers,
            body,
            ..Message::default()
        }
    }
}

impl NativeWire {
    /// The codec a message's content type names: bincode (or none) or JSON.
    fn codec_of(&self, message: &Message) -> Result<AnyCodec, String> {
        let content_type = message.content_type.as_deref();
        self.codec.for_content_type(content_type).ok_or_else(|| {
            format!(
                "content type `{}` is neither `application/x-bincode` nor `application/json`",
                content_type.unwrap_or_default()
            )
        })
    }
}

fn encode_context(context: &Context, headers: &mut Headers) {
    headers.insert(REQUEST_ID, context.request_id());
    if let Some(user) = context.user_id() {
        headers.insert(USER_ID, user);
    }
    if let Some(project) = context.project_id() {
        headers.insert(PROJECT_ID, project);
    }
    if !context.roles().is_empty() {
        headers.insert(ROLES, context.roles().join(","));
    }
    if let Some(token) = context.auth_token() {
        headers.insert(AUTH_TOKEN, token.expose());
    }
    for (key, value) in context.values() {
        headers.insert(format!("{VALUE_PREFIX}{key}"), value.as_str());
    }
    let trace = context
        .trace()
        .map_or_else(TraceParent::new_trace, TraceParent::child);
    headers.insert(TRACEPARENT, trace.to_string());
}

fn decode_context(headers: &Headers) -> Context {
    let mut context = Context::default();
    context.set_request_id(
        headers
            .get(REQUEST_ID)
            .map_or_else(new_request_id, str::to_owned),
    );
    if let Some(user) = headers.get(USER_ID) {
        context = context.with_user_id(user);
    }
    if let Some(project) = headers.get(PROJECT_ID) {
        context = context.with_project_id(project);
    }
    if let Some(roles) = headers.get(ROLES) {
        context = context.with_roles(roles.split(',').filter(|r| !r.is_empty()));
    }
    context.set_auth_token(headers.get(AUTH_TOKEN).map(Secret::new));
    context.set_trace(headers.get(TRACEPARENT).and_then(TraceParent::parse));
    for (name, value) in headers.iter() {
        if let Some(key) = name.strip_prefix(VALUE_PREFIX) {
            context
                .values_mut()
                .insert(key.to_owned(), value.to_owned());
        }
    }
    context
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_round_trips_with_context() {
        let wire = NativeWire::default();
        let ctx = Context::new()
            .with_user_id("u1")
            .with_project_id("p1")
            .with_roles(["admin", "member"])
            .with_auth_token("tok")
            .with_value("zone", "az1");
        let message = wire.encode_request(OutgoingRequest {
            method: "create_volume",
            version: "3.1",
            context: &ctx,
            timeout: Some(Duration::from_secs(30)),
            call_monitor: Some(Duration::from_secs(2)),
            body: vec![1, 2, 3],
        });
        assert_eq!(wire.call_monitor(&message), Some(Duration::from_secs(2)));
        let request = wire.decode_request(message).unwrap();
        assert_eq!(request.method, "create_volume");
        assert_eq!(request.version.as_deref(), Some("3.1"));
        assert_eq!(request.body, vec![1, 2, 3]);
        let got = request.context;
        assert_eq!(got.request_id(), ctx.request_id());
        assert_eq!(got.user_id(), Some("u1"));
        assert_eq!(got.project_id(), Some("p1"));
        assert_eq!(got.roles(), ["admin", "member"]);
        assert_eq!(got.auth_token().map(Secret::expose), Some("tok"));
        assert_eq!(got.value("zone"), Some("az1"));
        let left = got.remaining().expect("a deadline");
        assert!(
            left > Duration::from_secs(29) && left <= Duration::from_secs(30),
            "{left:?}"
        );
        assert!(
            got.trace().is_some(),
            "a new trace starts with the first request"
        );
    }

    #[test]
    fn bad_requests_and_replies_are_errors() {
        let wire = NativeWire::default();
        let err = wire.decode_request(Message::default()).unwrap_err();
        assert!(matches!(err, RpcError::BadRequest { .. }), "{err:?}");

        let mut message = Message::default();
        message.headers.insert(METHOD, "m");
        message.headers.insert(TIMEOUT, "soon");
        let err = wire.decode_request(message).unwrap_err();
        assert!(matches!(err, RpcError::BadRequest { ref method, .. } if method == "m"));

        let mut reply = Message::default();
        reply.headers.insert(STATUS, "failure");
        reply.body = vec![0xff; 3];
        assert!(matches!(
            wire.decode_reply(reply),
            Err(RpcError::Decode { .. })
        ));
    }

    #[test]
    fn failures_round_trip() {
        let wire = NativeWire::default();
        let failure = ReplyBody::Failure(RpcError::UnknownMethod {
            topic: "volume".into(),
            method: "nope".into(),
        });
        let message = wire.encode_reply(failure.clone(), &AnyCodec::default());
        assert_eq!(wire.decode_reply(message).unwrap(), failure);
    }
}
