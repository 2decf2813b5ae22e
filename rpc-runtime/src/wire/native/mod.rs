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
mod notification;

pub(crate) use notification::HEADER_NAMES;

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use super::{
    ErrorReply, IncomingNotification, IncomingRequest, OutgoingNotification, OutgoingRequest,
    ReplyBody, Wire, WireFormat,
};
use crate::codec::{AnyCodec, Bincode, Codec};
use crate::error::RpcError;
use crate::message::{Headers, Message};
use crate::options::CallOptions;

use self::head::{ContextHead, RequestHead};

/// The header that marks a request of the first native format.
const V1_METHOD: &str = "x-rpc-method";
/// The header that marks a reply of the first native format.
const V1_STATUS: &str = "x-rpc-status";
const HEARTBEAT: &str = "heartbeat";
const ERROR_MESSAGE: &str = "x-error-message";
const ERROR_TYPE: &str = "x-error-type";
/// The longest `x-error-message` sent, in bytes.
const MAX_ERROR_MESSAGE: usize = 1024;

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
    fn name(&self) -> &'static str {
        "native"
    }

    fn system(&self) -> &'static str {
        "rpc_runtime"
    }

    fn kind(&self) -> Option<Wire> {
        Some(Wire::Native)
    }

    fn recognizes(&self, message: &Message) -> bool {
        Wire::of(message) != Some(Wire::Oslo)
    }

    fn streams(&self) -> bool {
        true
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
        let options = CallOptions {
            timeout: head.timeout(),
            call_monitor: head.call_monitor(),
            ..CallOptions::default()
        };
        let version = Some(head.version.into_owned());
        let namespace = head.namespace.map(Cow::into_owned);
        let context = head.context.into_context();
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
    fn encode_notification(&self, notification: OutgoingNotification<'_>) -> Message {
        notification::encode(&self.codec, notification)
    }

    fn decode_notification(&self, message: Message) -> Result<IncomingNotification, RpcError> {
        let codec = self.codec_of(&message).map_err(notification::bad)?;
        notification::decode(codec, message)
    }

    fn unique_id<'m>(&self, message: &'m Message) -> Option<&'m str> {
        message
            .message_id
            .as_deref()
            .or(message.correlation_id.as_deref())
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

#[cfg(test)]
mod tests;
