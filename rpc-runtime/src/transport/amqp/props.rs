//! Converts our [`Message`] to amqprs's `BasicProperties` and back.
//!
//! amqprs panics on strings longer than 255 bytes where AMQP wants a short
//! string, so every such value is checked here first and refused with an
//! error instead.

use std::borrow::Cow;

use amqprs::{BasicProperties, FieldTable, FieldValue, ShortStr};

use crate::error::RpcError;
use crate::message::{Headers, Message, known_or_owned};
use crate::topology::MAX_NAME_LEN;
use crate::wire::KNOWN_VALUES;

/// Properties for an outgoing message (body excluded).
pub(super) fn to_properties(message: &Message) -> Result<BasicProperties, RpcError> {
    let mut props = BasicProperties::default();
    if let Some(v) = &message.correlation_id {
        props.with_correlation_id(short("correlation id", v)?);
    }
    if let Some(v) = &message.reply_to {
        props.with_reply_to(short("reply-to", v)?);
    }
    if let Some(v) = &message.message_id {
        props.with_message_id(short("message id", v)?);
    }
    if let Some(v) = &message.kind {
        props.with_message_type(short("type", v)?);
    }
    if let Some(v) = &message.content_type {
        props.with_content_type(short("content type", v)?);
    }
    if let Some(v) = &message.content_encoding {
        props.with_content_encoding(short("content encoding", v)?);
    }
    if let Some(ms) = message.expiration_ms {
        props.with_expiration(decimal(ms, &mut [0; 20]));
    }
    if message.persistent {
        props.with_persistence(true);
    }
    if !message.headers.is_empty() {
        let mut table = FieldTable::new();
        for (name, value) in message.headers.iter() {
            let key: ShortStr = name.try_into().map_err(|_| too_long("header name", name))?;
            table.insert(key, FieldValue::from(value));
        }
        props.with_headers(table);
    }
    // Not `finish()`: it clones the whole set, headers included.
    Ok(props)
}

/// Our view of a received message. String-valued headers are kept, others
/// (numbers, tables set by other clients) are dropped.
pub(super) fn from_delivery(props: &BasicProperties, body: Vec<u8>) -> Message {
    let mut headers = Headers::new();
    if let Some(table) = props.headers() {
        for (name, value) in table.as_ref() {
            if let FieldValue::S(text) = value {
                let name: &String = name.as_ref();
                let name = known_or_owned(name, crate::wire::HEADER_NAMES);
                headers.insert(name, text.as_ref().as_str());
            }
        }
    }
    Message {
        correlation_id: props.correlation_id().cloned(),
        reply_to: props.reply_to().cloned(),
        message_id: props.message_id().cloned(),
        kind: props.message_type().map(|v| known(v)),
        content_type: props.content_type().map(|v| known(v)),
        content_encoding: props.content_encoding().cloned(),
        expiration_ms: props.expiration().and_then(|e| e.parse().ok()),
        persistent: props.delivery_mode() == Some(amqprs::DELIVERY_MODE_PERSISTENT),
        headers,
        body,
        received_at: Some(std::time::Instant::now()),
    }
}

/// A received `type` or content type: static when it is one of ours.
fn known(value: &str) -> Cow<'static, str> {
    known_or_owned(value, KNOWN_VALUES.iter())
}

/// `n` in decimal, written into `buf` (no allocation of its own).
fn decimal(mut n: u64, buf: &mut [u8; 20]) -> &str {
    let mut at = buf.len();
    loop {
        at -= 1;
        buf[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    std::str::from_utf8(&buf[at..]).unwrap_or_default()
}

/// Checks that `value` fits an AMQP short string.
pub(super) fn short<'a>(what: &str, value: &'a str) -> Result<&'a str, RpcError> {
    if value.len() > MAX_NAME_LEN {
        return Err(too_long(what, value));
    }
    Ok(value)
}

fn too_long(what: &str, value: &str) -> RpcError {
    RpcError::Encode {
        what: what.to_owned(),
        detail: format!(
            "{} bytes is over AMQP's limit of {MAX_NAME_LEN}",
            value.len()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_long_values() {
        let mut message = Message {
            correlation_id: Some("7".into()),
            reply_to: Some("reply_x".into()),
            content_type: Some("application/x-bincode".into()),
            expiration_ms: Some(1500),
            ..Message::default()
        };
        message.headers.insert("x-rpc-method", "m");
        let props = to_properties(&message).unwrap();
        let back = from_delivery(&props, vec![1]);
        assert_eq!(back.headers.get("x-rpc-method"), Some("m"));
        assert_eq!(back.expiration_ms, Some(1500));
        assert_eq!(back.correlation_id.as_deref(), Some("7"));

        message.headers.insert("k".repeat(300), "v");
        assert!(matches!(
            to_properties(&message),
            Err(RpcError::Encode { .. })
        ));
        message.correlation_id = Some("c".repeat(256));
        assert!(to_properties(&message).is_err());
    }

    #[test]
    fn expirations_are_written_in_decimal() {
        for n in [0, 7, 1500, u64::MAX] {
            assert_eq!(decimal(n, &mut [0; 20]), n.to_string());
        }
    }
}
