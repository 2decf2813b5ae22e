//! oslo.messaging's envelope, and the reply routing it carries in the body.
//!
//! On the wire an oslo message is `{"oslo.version": "2.0", "oslo.message":
//! "<the message as a JSON string>"}`, and the message holds its own
//! routing: `_msg_id` (our correlation id), `_reply_q` (our reply queue),
//! `_timeout` (the caller's call-monitor timeout, in seconds) and
//! `_unique_id` (for dropping duplicates). Inside the runtime the same
//! message travels *unsealed*: the inner object as the body, the routing in
//! [`Message`]'s fields and a few internal headers. [`seal`] and [`unseal`]
//! convert between the two.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::codec::Json;
use crate::error::RpcError;
use crate::message::Message;

/// The fields of an oslo message, values left as JSON text.
pub(super) type Fields = BTreeMap<String, Box<RawValue>>;

/// Internal header: the caller's call-monitor timeout, in ms.
pub(super) const CALL_MONITOR: &str = "x-rpc-call-monitor";
/// Internal header: the message's `_unique_id`.
pub(super) const UNIQUE_ID: &str = "x-oslo-unique-id";
/// Internal header: `heartbeat` on a reply whose `ending` is false.
pub(super) const STATUS: &str = "x-rpc-status";
/// The value of [`STATUS`] on a heartbeat.
pub(super) const HEARTBEAT: &str = "heartbeat";

const ENVELOPE_VERSION: &str = "2.0";
const MSG_ID: &str = "_msg_id";
const REPLY_Q: &str = "_reply_q";
const TIMEOUT: &str = "_timeout";
const UNIQUE: &str = "_unique_id";
const ENDING: &str = "ending";

#[derive(Serialize)]
struct EnvelopeOut<'a> {
    #[serde(rename = "oslo.version")]
    version: &'a str,
    #[serde(rename = "oslo.message")]
    message: &'a str,
}

#[derive(Deserialize)]
struct EnvelopeIn {
    #[serde(rename = "oslo.version")]
    version: String,
    #[serde(rename = "oslo.message")]
    message: String,
}

/// JSON text of a value that always serializes.
pub(super) fn raw<T: Serialize + ?Sized>(value: &T) -> Box<RawValue> {
    serde_json::value::to_raw_value(value).unwrap_or_else(|_| null())
}

/// JSON `null`.
pub(super) fn null() -> Box<RawValue> {
    RawValue::from_string("null".to_owned()).unwrap_or_else(|_| unreachable!("`null` is JSON"))
}

/// Serializes fields as one JSON object.
pub(super) fn to_body(fields: &Fields) -> Vec<u8> {
    serde_json::to_vec(fields).unwrap_or_default()
}

/// Reads a JSON object's fields.
pub(super) fn fields_of(body: &[u8]) -> Result<Fields, String> {
    serde_json::from_slice(body).map_err(|e| format!("not a JSON object: {e}"))
}

/// A field's value as a string, if it is one.
pub(super) fn string(fields: &Fields, key: &str) -> Option<String> {
    fields
        .get(key)
        .and_then(|value| serde_json::from_str::<String>(value.get()).ok())
}

/// Puts the routing into the body and wraps it in the envelope.
pub(super) fn seal(mut message: Message) -> Result<Message, RpcError> {
    let mut fields = fields_of(&message.body).map_err(|detail| RpcError::Encode {
        what: "an oslo.messaging message".to_owned(),
        detail,
    })?;
    if let Some(id) = &message.correlation_id {
        fields.insert(MSG_ID.to_owned(), raw(id));
        if let Some(queue) = &message.reply_to {
            fields.insert(REPLY_Q.to_owned(), raw(queue));
            // Whole seconds, rounded up: oslo's servers ignore a `_timeout`
            // that is not an integer of at least 2.
            let seconds = message
                .headers
                .get(CALL_MONITOR)
                .and_then(|ms| ms.parse::<u64>().ok())
                .map(|ms| ms.div_ceil(1000));
            fields.insert(TIMEOUT.to_owned(), raw(&seconds));
        }
    }
    let unique = uuid::Uuid::new_v4().simple().to_string();
    fields.insert(UNIQUE.to_owned(), raw(&unique));
    let inner = serde_json::to_string(&fields).unwrap_or_default();
    message.body = serde_json::to_vec(&EnvelopeOut {
        version: ENVELOPE_VERSION,
        message: &inner,
    })
    .unwrap_or_default();
    message.content_type = Some(Json::CONTENT_TYPE.into());
    message.content_encoding = Some("utf-8".to_owned());
    message.headers.remove(CALL_MONITOR);
    message.headers.remove(UNIQUE_ID);
    message.headers.remove(STATUS);
    Ok(message)
}

/// Opens the envelope (a message without one, as oslo's 1.0 format sent
/// them, is read as is) and moves the routing out of the body.
pub(super) fn unseal(mut message: Message) -> Result<Message, RpcError> {
    let bad = |detail: String| RpcError::BadRequest {
        method: "?".into(),
        detail: format!("not an oslo.messaging message: {detail}"),
    };
    let mut fields = match serde_json::from_slice::<EnvelopeIn>(&message.body) {
        Ok(envelope) => {
            let major = envelope.version.split('.').next().unwrap_or_default();
            if major != "2" {
                return Err(bad(format!(
                    "envelope version `{}` is not 2.x",
                    envelope.version
                )));
            }
            fields_of(envelope.message.as_bytes()).map_err(bad)?
        }
        Err(_) => fields_of(&message.body).map_err(bad)?,
    };
    message.correlation_id = take_string(&mut fields, MSG_ID);
    if let Some(queue) = take_string(&mut fields, REPLY_Q) {
        message.reply_to = Some(queue);
    }
    let timeout = fields
        .remove(TIMEOUT)
        .and_then(|v| serde_json::from_str::<f64>(v.get()).ok());
    if let Some(seconds) = timeout.filter(|s| s.is_finite() && *s > 0.0) {
        let ms = (seconds * 1000.0).min(u32::MAX as f64) as u64;
        message.headers.insert(CALL_MONITOR, ms.max(1).to_string());
    }
    if let Some(unique) = take_string(&mut fields, UNIQUE) {
        message.headers.insert(UNIQUE_ID, unique);
    }
    let ending = fields
        .get(ENDING)
        .and_then(|v| serde_json::from_str::<bool>(v.get()).ok());
    if ending == Some(false) {
        message.headers.insert(STATUS, HEARTBEAT);
    }
    message.body = to_body(&fields);
    message.content_type = Some(Json::CONTENT_TYPE.into());
    Ok(message)
}

fn take_string(fields: &mut Fields, key: &str) -> Option<String> {
    let value = fields.remove(key)?;
    serde_json::from_str::<Option<String>>(value.get())
        .ok()
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_call_round_trips_with_its_routing() {
        let mut message = Message {
            correlation_id: Some("abc".into()),
            reply_to: Some("reply_1".into()),
            body: br#"{"method":"ping","args":{}}"#.to_vec(),
            ..Message::default()
        };
        message.headers.insert(CALL_MONITOR, "1500");
        let sealed = seal(message).unwrap();
        let outer: serde_json::Value = serde_json::from_slice(&sealed.body).unwrap();
        assert_eq!(outer["oslo.version"], "2.0");
        let inner: serde_json::Value =
            serde_json::from_str(outer["oslo.message"].as_str().unwrap()).unwrap();
        assert_eq!(inner["_msg_id"], "abc");
        assert_eq!(inner["_reply_q"], "reply_1");
        assert_eq!(inner["_timeout"], 2, "whole seconds, rounded up");
        assert_eq!(inner["_unique_id"].as_str().unwrap().len(), 32);
        assert!(sealed.headers.is_empty());

        let mut received = sealed;
        received.correlation_id = None;
        received.reply_to = None;
        let back = unseal(received).unwrap();
        assert_eq!(back.correlation_id.as_deref(), Some("abc"));
        assert_eq!(back.reply_to.as_deref(), Some("reply_1"));
        assert_eq!(back.headers.get(CALL_MONITOR), Some("2000"));
        assert!(back.headers.get(UNIQUE_ID).is_some());
        let body: serde_json::Value = serde_json::from_slice(&back.body).unwrap();
        assert_eq!(body, serde_json::json!({"method": "ping", "args": {}}));
    }

    #[test]
    fn heartbeats_and_bare_messages_are_read() {
        let bare = Message {
            body: br#"{"result":null,"failure":null,"ending":false,"_msg_id":"7"}"#.to_vec(),
            ..Message::default()
        };
        let back = unseal(bare).unwrap();
        assert_eq!(back.headers.get(STATUS), Some(HEARTBEAT));
        assert_eq!(back.correlation_id.as_deref(), Some("7"));
    }

    #[test]
    fn garbage_is_an_error() {
        for body in [
            &b"\xff\x00"[..],
            b"[1,2]",
            b"{\"oslo.version\":\"9.0\",\"oslo.message\":\"{}\"}",
            b"{\"oslo.version\":\"2.0\",\"oslo.message\":\"[\"}",
        ] {
            let message = Message {
                body: body.to_vec(),
                ..Message::default()
            };
            assert!(unseal(message).is_err(), "{body:?}");
        }
        let message = Message {
            body: b"not json".to_vec(),
            ..Message::default()
        };
        assert!(seal(message).is_err());
    }
}
