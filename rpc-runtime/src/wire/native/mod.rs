//! The native wire format: routing facts in AMQP headers, the arguments
//! (or the reply) as one codec-encoded body.
//!
//! Headers (all strings):
//!
//! | header | on | meaning |
//! |---|---|---|
//! | `x-rpc-method` | request | the method name |
//! | `x-rpc-version` | request | the API version the request needs, `major.minor` |
//! | `x-rpc-namespace` | request | the service's namespace, when it has one |
//! | `x-rpc-timeout` | request | how long the caller waits, in ms from when the server receives it (relative, so clock skew between hosts does not matter) |
//! | `x-request-id`, `x-user-id`, `x-project-id` | request | context fields |
//! | `x-roles` | request | context roles, comma separated |
//! | `x-auth-token` | request | context auth token |
//! | `x-ctx-<key>` | request | free-form context values |
//! | `x-ctxj-<key>` | request | free-form context values that are not strings, as JSON (received from oslo.messaging) |
//! | `traceparent` | request | W3C trace context, when the caller has a trace: its trace, a new span id |
//! | `x-rpc-call-monitor` | request | ask for heartbeats: the caller gives up after this many ms without one |
//! | `x-event-type`, `x-publisher-id`, `x-priority` (`INFO`), `x-message-id`, `x-timestamp` (Unix ms) | notification | the notification's envelope (with the context headers; the body is the payload) |
//! | `x-rpc-status` | reply | `ok` (value), `error` (manager's error), `failure` (framework error), `heartbeat` (still working) |

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::{
    ErrorReply, IncomingNotification, IncomingRequest, OutgoingNotification, OutgoingRequest,
    ReplyBody, Wire, WireFormat,
};
use crate::codec::{AnyCodec, Bincode, Codec};
use crate::context::{Context, new_request_id};
use crate::error::RpcError;
use crate::message::{Headers, Message};
use crate::notify::Priority;
use crate::secret::Secret;
use crate::trace::TraceParent;

const METHOD: &str = "x-rpc-method";
const VERSION: &str = "x-rpc-version";
const NAMESPACE: &str = "x-rpc-namespace";
const TIMEOUT: &str = "x-rpc-timeout";
const REQUEST_ID: &str = "x-request-id";
const USER_ID: &str = "x-user-id";
const PROJECT_ID: &str = "x-project-id";
const ROLES: &str = "x-roles";
const AUTH_TOKEN: &str = crate::message::SECRET_HEADER;
const VALUE_PREFIX: &str = "x-ctx-";
const RAW_VALUE_PREFIX: &str = "x-ctxj-";
const STATUS: &str = "x-rpc-status";
const TRACEPARENT: &str = "traceparent";
const CALL_MONITOR: &str = "x-rpc-call-monitor";
const EVENT_TYPE: &str = "x-event-type";
const PUBLISHER_ID: &str = "x-publisher-id";
const PRIORITY: &str = "x-priority";
const MESSAGE_ID: &str = "x-message-id";
const TIMESTAMP: &str = "x-timestamp";
const HEARTBEAT: &str = "heartbeat";

/// The header names this format writes, so that a transport reading them
/// off the network can keep the static name instead of allocating a copy.
pub(crate) const HEADER_NAMES: &[&str] = &[
    METHOD,
    VERSION,
    NAMESPACE,
    TIMEOUT,
    REQUEST_ID,
    USER_ID,
    PROJECT_ID,
    ROLES,
    AUTH_TOKEN,
    STATUS,
    TRACEPARENT,
    CALL_MONITOR,
    EVENT_TYPE,
    PUBLISHER_ID,
    PRIORITY,
    MESSAGE_ID,
    TIMESTAMP,
];

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

    /// A native wire format with bincode bodies of at most `bytes`.
    pub fn with_max_size(bytes: usize) -> Self {
        Self::new(AnyCodec::Bincode(Bincode::with_max_size(bytes)))
    }
}

impl WireFormat for NativeWire {
    fn kind(&self) -> Wire {
        Wire::Native
    }

    fn codec(&self) -> &AnyCodec {
        &self.codec
    }

    fn with_max_size(&self, bytes: usize) -> Arc<dyn WireFormat> {
        Arc::new(NativeWire::with_max_size(bytes))
    }

    fn encode_request(&self, request: OutgoingRequest<'_>) -> Message {
        let mut headers = Headers::new();
        headers.insert(METHOD, request.method);
        headers.insert(VERSION, request.version);
        if let Some(namespace) = request.namespace {
            headers.insert(NAMESPACE, namespace);
        }
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

    fn decode_request(&self, mut message: Message) -> Result<IncomingRequest, RpcError> {
        // Moved out rather than copied: the headers are not needed after.
        let method = message
            .headers
            .remove(METHOD)
            .ok_or_else(|| RpcError::BadRequest {
                method: "?".into(),
                detail: format!("the `{METHOD}` header is missing"),
            })?;
        let version = message.headers.remove(VERSION);
        let headers = &message.headers;
        let bad = |detail: String| RpcError::BadRequest {
            method: method.clone(),
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
            method,
            version,
            namespace: headers.get(NAMESPACE).map(str::to_owned),
            context,
            body: message.body,
            codec,
        })
    }

    fn encode_reply(&self, reply: ReplyBody, codec: &AnyCodec) -> Message {
        let (status, body) = match reply {
            ReplyBody::Value(body) => ("ok", body),
            ReplyBody::Error(error) => ("error", error.body),
            ReplyBody::Failure(error) => match codec.encode(&error) {
                Ok(body) => ("failure", body),
                Err(_) => ("failure", Vec::new()),
            },
        };
        self.status_message(status, body, codec)
    }

    fn decode_reply(&self, message: Message) -> Result<ReplyBody, RpcError> {
        let decode_error = |detail: String| RpcError::Decode {
            what: "the reply".into(),
            detail,
        };
        let codec = self.codec_of(&message).map_err(decode_error)?;
        match message.headers.get(STATUS) {
            Some("ok") => Ok(ReplyBody::Value(message.body)),
            Some("error") => Ok(ReplyBody::Error(ErrorReply::encoded(message.body))),
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
        self.status_message(HEARTBEAT, Vec::new(), &self.codec)
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
    fn status_message(&self, status: &str, body: Vec<u8>, codec: &AnyCodec) -> Message {
        let mut headers = Headers::new();
        headers.insert(STATUS, status);
        Message {
            content_type: Some(codec.content_type().to_owned()),
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
    for (key, json) in context.raw_values() {
        headers.insert(format!("{RAW_VALUE_PREFIX}{key}"), json.as_str());
    }
    // No trace at the caller: the server starts one (see `trace`).
    if let Some(trace) = context.trace() {
        headers.insert(TRACEPARENT, trace.child().to_string());
    }
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
        } else if let Some(key) = name.strip_prefix(RAW_VALUE_PREFIX) {
            context.set_raw_value(key, value);
        }
    }
    context
}

#[cfg(test)]
mod tests;
