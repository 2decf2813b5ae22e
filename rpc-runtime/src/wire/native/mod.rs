//! The native wire format (v2): a request's method in the AMQP `type`
//! property, its other facts in a compact binary preamble at the head of
//! the body ([`head`]), then the codec-encoded arguments; a reply's status
//! in `type`, its value or error as the body. No AMQP header table on
//! requests and replies: RabbitMQ decodes every message's headers, and each
//! entry costs it throughput.
//!
//! | on | AMQP property | body |
//! |---|---|---|
//! | request | `type` = method, `content_type` = the arguments' codec, `correlation_id` + `reply_to` (calls), `expiration` = the call's timeout | `2`, then the preamble (bincode): API version, namespace, timeout budget in ms from receipt (relative: clock skew between hosts does not matter), call-monitor ms, context (request id, user, project, roles, auth token, values, JSON values, W3C `traceparent`), then the arguments |
//! | reply | `type` = `ok` (value), `error` (manager's error), `failure` (framework error) or `heartbeat`, `content_type`, `correlation_id` | the value or error |
//!
//! An `error` reply (not on the common path) also carries the error's
//! `Display` and type in the headers `x-error-message` and `x-error-type`,
//! for tools and logs that cannot decode the error's type.
//!
//! A request or reply of the first native format (routing facts in
//! `x-rpc-*` headers) is refused with an error naming the format.
//!
//! Notifications keep their facts in headers (they are not on the request
//! path): `x-event-type`, `x-publisher-id`, `x-priority` (`INFO`),
//! `x-message-id`, `x-timestamp` (Unix ms), and the context as
//! `x-request-id`, `x-user-id`, `x-project-id`, `x-roles` (comma
//! separated), `x-auth-token`, `x-ctx-<key>`, `x-ctxj-<key>` (JSON),
//! `traceparent`.

mod head;

use std::borrow::Cow;
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
use crate::options::CallOptions;
use crate::secret::Secret;
use crate::trace::TraceParent;

use self::head::{ContextHead, RequestHead};

/// The header that marks a request of the first native format.
const V1_METHOD: &str = "x-rpc-method";
/// The header that marks a reply of the first native format.
const V1_STATUS: &str = "x-rpc-status";
const REQUEST_ID: &str = "x-request-id";
const USER_ID: &str = "x-user-id";
const PROJECT_ID: &str = "x-project-id";
const ROLES: &str = "x-roles";
const AUTH_TOKEN: &str = crate::message::SECRET_HEADER;
const VALUE_PREFIX: &str = "x-ctx-";
const RAW_VALUE_PREFIX: &str = "x-ctxj-";
const TRACEPARENT: &str = "traceparent";
const EVENT_TYPE: &str = "x-event-type";
const PUBLISHER_ID: &str = "x-publisher-id";
const PRIORITY: &str = "x-priority";
const MESSAGE_ID: &str = "x-message-id";
const TIMESTAMP: &str = "x-timestamp";
const HEARTBEAT: &str = "heartbeat";
const ERROR_MESSAGE: &str = "x-error-message";
const ERROR_TYPE: &str = "x-error-type";
/// The longest `x-error-message` sent, in bytes.
const MAX_ERROR_MESSAGE: usize = 1024;

/// The header names this format writes, so that a transport reading them
/// off the network can keep the static name instead of allocating a copy.
pub(crate) const HEADER_NAMES: &[&str] = &[
    REQUEST_ID,
    USER_ID,
    PROJECT_ID,
    ROLES,
    AUTH_TOKEN,
    TRACEPARENT,
    EVENT_TYPE,
    PUBLISHER_ID,
    PRIORITY,
    MESSAGE_ID,
    TIMESTAMP,
];

/// A stream item's AMQP `type` (see [`crate::stream`]).
pub(crate) const STREAM_ITEM: &str = "item";
/// A stream's end's AMQP `type`.
pub(crate) const STREAM_END: &str = "end";

/// The `type` and `content-type` values of this format's replies and
/// stream frames, kept static when read back (see
/// [`crate::message::known_or_owned`]).
pub(crate) const KNOWN_VALUES: &[&str] = &[
    OK,
    ERROR,
    FAILURE,
    HEARTBEAT,
    STREAM_ITEM,
    STREAM_END,
    crate::codec::Bincode::CONTENT_TYPE,
    crate::codec::Json::CONTENT_TYPE,
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
        let head = RequestHead {
            version: Cow::Borrowed(request.version),
            namespace: request.namespace.map(Cow::Borrowed),
            timeout_ms: request.options.timeout.map(millis),
            call_monitor_ms: request.options.call_monitor.map(millis),
            context: ContextHead::of(request.context, request.trace),
        };
        Message {
            kind: Some(request.method),
            content_type: Some(Cow::Borrowed(self.codec.content_type())),
            body: head.encode(&request.body),
            ..Message::default()
        }
    }

    fn decode_request(&self, mut message: Message) -> Result<IncomingRequest, RpcError> {
        let Some(method) = message.kind.take() else {
            let detail = if message.headers.get(V1_METHOD).is_some() {
                "it is in the first native wire format (`x-rpc-*` headers); this server speaks native wire v2 (method in the AMQP `type`): upgrade the caller"
            } else {
                "it names no method (the AMQP `type` property is missing)"
            };
            return Err(RpcError::BadRequest {
                method: message.headers.get(V1_METHOD).unwrap_or("?").to_owned(),
                detail: detail.to_owned(),
            });
        };
        let bad = |detail: String| RpcError::BadRequest {
            method: method.to_string(),
            detail,
        };
        let codec = self.codec_of(&message).map_err(bad)?;
        let (head, args_at) = head::decode(&message.body, self.codec.max_size())
            .map_err(|e| bad(format!("unreadable request preamble: {e}")))?;
        // The budget counts from when the transport received the message.
        let deadline = head.timeout().and_then(|budget| {
            let waited = message
                .received_at
                .map(|at| at.elapsed())
                .unwrap_or_default();
            SystemTime::now().checked_add(budget.saturating_sub(waited))
        });
        let options = CallOptions {
            timeout: head.timeout(),
            call_monitor: head.call_monitor(),
            ..CallOptions::default()
        };
        let version = Some(head.version.into_owned());
        let namespace = head.namespace.map(Cow::into_owned);
        let mut context = head.context.into_context();
        context.set_deadline(deadline);
        message.body.drain(..args_at);
        Ok(IncomingRequest {
            method: method.into_owned(),
            version,
            namespace,
            context,
            options,
            body: message.body,
            codec,
        })
    }

    fn encode_reply(&self, reply: ReplyBody, codec: &AnyCodec) -> Message {
        let mut headers = Headers::new();
        let (status, body) = match reply {
            ReplyBody::Value(body) => (OK, body),
            ReplyBody::Error(error) => {
                if !error.message.is_empty() {
                    headers.insert(ERROR_MESSAGE, truncated(&error.message, MAX_ERROR_MESSAGE));
                }
                if !error.type_name.is_empty() {
                    headers.insert(ERROR_TYPE, truncated(&error.type_name, MAX_ERROR_MESSAGE));
                }
                (ERROR, error.body)
            }
            ReplyBody::Failure(error) => (FAILURE, codec.encode(&error).unwrap_or_default()),
        };
        let mut message = self.status_message(status, body, codec);
        message.headers = headers;
        message
    }

    fn decode_reply(&self, message: Message) -> Result<ReplyBody, RpcError> {
        let decode_error = |detail: String| RpcError::Decode {
            what: "the reply".into(),
            detail,
        };
        let codec = self.codec_of(&message).map_err(decode_error)?;
        match message.kind.as_deref() {
            Some(OK) => Ok(ReplyBody::Value(message.body)),
            Some(ERROR) => {
                let header = |name: &str| message.headers.get(name).map(str::to_owned);
                Ok(ReplyBody::Error(ErrorReply {
                    message: header(ERROR_MESSAGE).unwrap_or_default(),
                    type_name: header(ERROR_TYPE).unwrap_or_default(),
                    causes: Vec::new(),
                    body: message.body,
                }))
            }
            Some(FAILURE) => codec
                .decode::<RpcError>(&message.body)
                .map(ReplyBody::Failure)
                .map_err(|e| decode_error(format!("undecodable failure: {e}"))),
            Some(other) => Err(decode_error(format!("unknown reply status `{other}`"))),
            None if message.headers.get(V1_STATUS).is_some() => Err(decode_error(
                "it is in the first native wire format (`x-rpc-*` headers); this client speaks native wire v2: upgrade the server".to_owned(),
            )),
            None => Err(decode_error("it has no status (the AMQP `type` property)".to_owned())),
        }
    }

    fn encode_heartbeat(&self) -> Message {
        self.status_message(HEARTBEAT, Vec::new(), &self.codec)
    }

    fn is_heartbeat(&self, reply: &Message) -> bool {
        reply.kind.as_deref() == Some(HEARTBEAT)
    }

    /// A cast's message id, stamped by the transport; a call's id.
    fn unique_id<'m>(&self, message: &'m Message) -> Option<&'m str> {
        message
            .message_id
            .as_deref()
            .or(message.correlation_id.as_deref())
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
            content_type: Some(Cow::Borrowed(self.codec.content_type())),
            persistent: true,
            headers,
            body: notification.payload,
            ..Message::default()
        }
    }

    fn decode_notification(&self, message: Message) -> Result<IncomingNotification, RpcError> {
        let headers = &message.headers;
        let bad = |detail: String| RpcError::Decode {
            what: "a notification".into(),
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
    fn status_message(&self, status: &'static str, body: Vec<u8>, codec: &AnyCodec) -> Message {
        Message {
            kind: Some(Cow::Borrowed(status)),
            content_type: Some(Cow::Borrowed(codec.content_type())),
            body,
            ..Message::default()
        }
    }
}

/// A reply's statuses, in its AMQP `type`.
const OK: &str = "ok";
const ERROR: &str = "error";
const FAILURE: &str = "failure";

/// `text` cut to at most `max` bytes, at a character boundary.
fn truncated(text: &str, max: usize) -> &str {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
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
