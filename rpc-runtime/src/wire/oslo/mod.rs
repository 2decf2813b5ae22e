//! oslo.messaging's wire format (its rabbit driver, envelope 2.0), so that
//! the same generated client and service talk to Python OpenStack services.
//!
//! | oslo field | ours |
//! |---|---|
//! | `method` | the method name |
//! | `args` | the arguments, by name (the Rust parameter names), as JSON |
//! | `version` | the version the request needs (absent: `1.0`, as oslo reads it) |
//! | `namespace` | `#[rpc_service(namespace = "...")]` |
//! | `_context_<key>` | the [`Context`](crate::Context) (see `context.rs`) |
//! | `_msg_id` | the correlation id |
//! | `_reply_q` | the reply queue |
//! | `_timeout` | the call monitor, in whole seconds (rounded up; oslo's servers only heartbeat for 2 s or more) |
//! | `_unique_id` | a fresh id per message; repeated ones are dropped by servers |
//! | AMQP `expiration` | the call's timeout: the server's deadline counts from receipt |
//! | reply `result` | the value |
//! | reply `failure` | a manager or framework error (see `failure.rs`) |
//! | reply `ending: false`, no result | a call-monitor heartbeat |
//! | notification `message_id`, `publisher_id`, `event_type`, `priority`, `payload`, `timestamp` | the notification's fields |
//!
//! Bodies are JSON ([`Json`]); a request's body is its `args` object.

mod context;
mod envelope;
mod failure;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde_json::value::RawValue;

use self::envelope::{CALL_MONITOR, Fields, HEARTBEAT, STATUS, UNIQUE_ID, fields_of, null, raw};
use super::{
    IncomingNotification, IncomingRequest, OutgoingNotification, OutgoingRequest, ReplyBody, Wire,
    WireFormat,
};
use crate::codec::{AnyCodec, DEFAULT_MAX_MESSAGE_SIZE, Json};
use crate::error::RpcError;
use crate::message::Message;
use crate::options::CallOptions;
use crate::priority::Priority;

/// oslo.messaging's JSON envelope.
#[derive(Debug, Clone)]
pub struct OsloWire {
    codec: AnyCodec,
}

impl Default for OsloWire {
    fn default() -> Self {
        Self::with_max_size(DEFAULT_MAX_MESSAGE_SIZE)
    }
}

impl OsloWire {
    /// The oslo wire format with JSON bodies of at most `bytes`.
    pub fn with_max_size(bytes: usize) -> Self {
        Self {
            codec: AnyCodec::Json(Json::with_max_size(bytes)),
        }
    }

    fn message(&self, fields: &Fields) -> Message {
        Message {
            content_type: Some(Json::CONTENT_TYPE.into()),
            body: envelope::to_body(fields),
            ..Message::default()
        }
    }

    fn fields(&self, message: &Message) -> Result<Fields, String> {
        let limit = self.codec.max_size();
        if message.body.len() > limit {
            return Err(format!(
                "its body of {} bytes exceeds the limit of {limit} bytes",
                message.body.len()
            ));
        }
        fields_of(&message.body)
    }
}

/// A JSON body as a raw value; `{}` when it is not JSON.
fn raw_body(body: Vec<u8>) -> Box<RawValue> {
    String::from_utf8(body)
        .ok()
        .and_then(|text| RawValue::from_string(text).ok())
        .unwrap_or_else(|| raw(&serde_json::Map::new()))
}

impl WireFormat for OsloWire {
    fn name(&self) -> &'static str {
        "oslo"
    }

    fn system(&self) -> &'static str {
        "oslo_messaging"
    }

    fn kind(&self) -> Option<Wire> {
        Some(Wire::Oslo)
    }

    fn recognizes(&self, message: &Message) -> bool {
        Wire::of(message) != Some(Wire::Native)
    }

    /// oslo.messaging's servers declare `topic.server` without an expiry.
    fn expires_server_queues(&self) -> bool {
        false
    }

    fn codec(&self) -> &AnyCodec {
        &self.codec
    }

    fn with_max_size(&self, bytes: usize) -> Arc<dyn WireFormat> {
        Arc::new(OsloWire::with_max_size(bytes))
    }

    fn encode_request(&self, request: OutgoingRequest<'_>) -> Message {
        let mut fields = Fields::new();
        fields.insert("method".into(), raw(&request.method));
        fields.insert("args".into(), raw_body(request.body));
        fields.insert("version".into(), raw(request.version));
        if let Some(namespace) = request.namespace {
            fields.insert("namespace".into(), raw(namespace));
        }
        context::encode(request.context, request.trace, &mut fields);
        let mut message = self.message(&fields);
        if let Some(monitor) = request.options.call_monitor {
            message
                .headers
                .insert(CALL_MONITOR, monitor.as_millis().to_string());
        }
        message
    }

    fn decode_request(&self, message: Message) -> Result<IncomingRequest, RpcError> {
        let bad = |method: &str, detail: String| RpcError::BadRequest {
            method: method.to_owned(),
            detail,
        };
        let fields = self.fields(&message).map_err(|e| bad("?", e))?;
        let method = envelope::string(&fields, "method")
            .ok_or_else(|| bad("?", "the `method` field is missing".into()))?;
        let body = match fields.get("args") {
            None => b"{}".to_vec(),
            Some(args) if args.get() == "null" => b"{}".to_vec(),
            Some(args) => args.get().as_bytes().to_vec(),
        };
        let context = context::decode(&fields);
        let options = CallOptions {
            // oslo puts the call's timeout in the AMQP expiration.
            timeout: message.expiration_ms.map(Duration::from_millis),
            call_monitor: message
                .headers
                .get(CALL_MONITOR)
                .and_then(|ms| ms.parse().ok())
                .map(Duration::from_millis),
            ..CallOptions::default()
        };
        Ok(IncomingRequest {
            version: Some(envelope::string(&fields, "version").unwrap_or_else(|| "1.0".into())),
            namespace: envelope::string(&fields, "namespace"),
            method,
            context,
            options,
            body,
            codec: self.codec,
        })
    }

    fn encode_reply(&self, reply: ReplyBody, _codec: &AnyCodec) -> Message {
        let mut fields = Fields::new();
        let (result, failure) = match reply {
            ReplyBody::Value(body) => (raw_body(body), null()),
            ReplyBody::Error(error) => (null(), raw(&failure::from_error(&error))),
            ReplyBody::Failure(error) => (null(), raw(&failure::from_rpc_error(&error))),
        };
        fields.insert("result".into(), result);
        fields.insert("failure".into(), failure);
        fields.insert("ending".into(), raw(&true));
        self.message(&fields)
    }

    fn decode_reply(&self, message: Message) -> Result<ReplyBody, RpcError> {
        let fields = self.fields(&message).map_err(|detail| RpcError::Decode {
            what: "the reply".into(),
            detail,
        })?;
        if let Some(failure) = envelope::string(&fields, "failure").filter(|f| !f.is_empty()) {
            return Ok(failure::decode(&failure));
        }
        let result = fields
            .get("result")
            .map_or_else(|| b"null".to_vec(), |r| r.get().as_bytes().to_vec());
        Ok(ReplyBody::Value(result))
    }

    fn encode_heartbeat(&self) -> Message {
        let mut fields = Fields::new();
        fields.insert("result".into(), null());
        fields.insert("failure".into(), null());
        fields.insert("ending".into(), raw(&false));
        self.message(&fields)
    }

    fn is_heartbeat(&self, reply: &Message) -> bool {
        reply.headers.get(STATUS) == Some(HEARTBEAT)
    }

    fn encode_notification(&self, notification: OutgoingNotification<'_>) -> Message {
        let mut fields = Fields::new();
        fields.insert("message_id".into(), raw(notification.message_id));
        fields.insert("publisher_id".into(), raw(notification.publisher_id));
        fields.insert("event_type".into(), raw(notification.event_type));
        fields.insert("priority".into(), raw(notification.priority.name()));
        fields.insert("payload".into(), raw_body(notification.payload));
        fields.insert("timestamp".into(), raw(&timestamp(notification.timestamp)));
        context::encode(notification.context, None, &mut fields);
        let mut message = self.message(&fields);
        message.persistent = true;
        message
    }

    fn decode_notification(&self, message: Message) -> Result<IncomingNotification, RpcError> {
        let bad = |detail: String| RpcError::Decode {
            what: "a notification".into(),
            detail,
        };
        let fields = self.fields(&message).map_err(bad)?;
        let field = |name: &str| {
            envelope::string(&fields, name)
                .ok_or_else(|| bad(format!("the `{name}` field is missing")))
        };
        let priority = field("priority")?;
        let priority = Priority::from_name(&priority)
            .ok_or_else(|| bad(format!("`{priority}` is not a notification priority")))?;
        let stamp = field("timestamp")?;
        let timestamp = humantime::parse_rfc3339_weak(&stamp)
            .map_err(|_| bad(format!("`{stamp}` is not a timestamp")))?;
        let payload = fields
            .get("payload")
            .map_or_else(|| b"null".to_vec(), |p| p.get().as_bytes().to_vec());
        Ok(IncomingNotification {
            priority,
            event_type: field("event_type")?,
            publisher_id: field("publisher_id")?,
            message_id: field("message_id")?,
            timestamp,
            context: context::decode(&fields),
            payload,
            codec: self.codec,
        })
    }

    fn seal(&self, message: Message) -> Result<Message, RpcError> {
        envelope::seal(message)
    }

    fn unseal(&self, message: Message) -> Result<Message, RpcError> {
        // The reply address is inside the body: read a body somewhat over
        // the limit still, so that its sender gets a clear "too large"
        // reply from `decode_request` instead of a timeout.
        let limit = self.codec.max_size().saturating_mul(2);
        if message.body.len() > limit {
            return Err(RpcError::BadRequest {
                method: "?".into(),
                detail: format!(
                    "its body of {} bytes is far over the limit of {} bytes",
                    message.body.len(),
                    self.codec.max_size()
                ),
            });
        }
        envelope::unseal(message)
    }

    fn unique_id<'m>(&self, message: &'m Message) -> Option<&'m str> {
        message.headers.get(UNIQUE_ID)
    }
}

/// oslo's notification timestamp: `2026-11-25 00:21:03.123456`, UTC.
fn timestamp(at: SystemTime) -> String {
    humantime::format_rfc3339_micros(at)
        .to_string()
        .replace('T', " ")
        .trim_end_matches('Z')
        .to_owned()
}

#[cfg(test)]
mod tests;
