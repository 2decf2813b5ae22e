//! The messages of a stream on the native wire: `item`, `end`, and a
//! terminal `error` or `failure`, each with its sequence number at the
//! head of the body (see the module above).

use crate::codec::{AnyCodec, Codec};
use crate::error::RpcError;
use crate::message::Message;
use crate::wire::{ReplyBody, WireFormat};

use crate::wire::{STREAM_END as END, STREAM_ITEM as ITEM};

/// What the server sends for one step of a stream.
#[derive(Debug)]
pub(crate) enum Frame {
    /// An encoded item.
    Item(Vec<u8>),
    /// The stream ended with the manager's error or a framework failure.
    Failed(ReplyBody),
    /// The stream ended.
    End,
}

/// The message of frame number `seq`, its body in `codec`.
pub(crate) fn encode(wire: &dyn WireFormat, codec: &AnyCodec, seq: u64, frame: Frame) -> Message {
    let (kind, body, mut message) = match frame {
        Frame::Item(body) => (Some(ITEM), body, Message::default()),
        Frame::End => (Some(END), Vec::new(), Message::default()),
        Frame::Failed(reply) => (None, Vec::new(), wire.encode_reply(reply, codec)),
    };
    if let Some(kind) = kind {
        message.kind = Some(kind.into());
        message.content_type = Some(codec.content_type().into());
        message.body = body;
    }
    let mut framed = Vec::with_capacity(8 + message.body.len());
    framed.extend_from_slice(&seq.to_le_bytes());
    framed.append(&mut message.body);
    message.body = framed;
    message
}

/// A received frame and its sequence number.
pub(crate) fn decode(
    wire: &dyn WireFormat,
    mut message: Message,
) -> Result<(u64, Frame), RpcError> {
    let bad = |detail: &str| RpcError::Decode {
        what: "a stream's message".to_owned(),
        detail: detail.to_owned(),
    };
    if message.body.len() < 8 {
        return Err(bad("its body is shorter than its sequence number"));
    }
    let mut seq = [0u8; 8];
    seq.copy_from_slice(&message.body[..8]);
    let seq = u64::from_le_bytes(seq);
    message.body.drain(..8);
    let frame = match message.kind.as_deref() {
        Some(ITEM) => Frame::Item(message.body),
        Some(END) => Frame::End,
        _ => Frame::Failed(wire.decode_reply(message)?),
    };
    Ok((seq, frame))
}
