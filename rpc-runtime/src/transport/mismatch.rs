//! A request in the other wire format than the server speaks: answered, in
//! the caller's own format, with an error naming the setting to change
//! (instead of a caller waiting for its timeout on a reply that cannot
//! come), and logged at WARN once per sender.

use std::time::Duration;

use super::driver::{Publish, Settle};
use super::{Destination, Transport};
use crate::codec::DEFAULT_MAX_MESSAGE_SIZE;
use crate::error::RpcError;
use crate::message::Message;
use crate::wire::{ReplyBody, Wire, WireFormat};

/// The built-in format a received message is in, when the receiver's
/// format `ours` does not recognize it.
pub(crate) fn foreign(ours: &dyn WireFormat, message: &Message) -> Option<Wire> {
    if ours.recognizes(message) {
        return None;
    }
    Wire::of(message)
}

/// The error for a message in `received` format at a `served` receiver.
pub(crate) fn wrong_wire(received: Wire, served: &dyn WireFormat) -> RpcError {
    // Said to both ends: the receiver logs it, the sender gets it back.
    let hint = match served.kind() {
        Some(Wire::Native) => {
            "give the sender's transport `wire=native` (an `amqp://` URL without `wire=oslo`), or the receiver's `wire=oslo` (a `rabbit://` URL selects it)".to_owned()
        }
        Some(Wire::Oslo) => {
            "give the sender's transport `wire=oslo` (a `rabbit://` URL selects it), or the receiver's `wire=native`".to_owned()
        }
        None => format!(
            "give the sender's transport the receiver's format (`{}`), or the receiver's `wire={}`",
            served.name(),
            received.name()
        ),
    };
    RpcError::WrongWire {
        received: received.name().to_owned(),
        served: served.name().to_owned(),
        hint,
    }
}

impl Transport {
    /// Answers a request that arrived in the `received` wire format (the
    /// message as it came off the network), in that format, when its
    /// sender waits for a reply; logs it once per sender.
    pub(crate) async fn answer_wrong_wire(&self, message: Message, received: Wire) {
        let error = wrong_wire(received, self.wire());
        let theirs = received.format(DEFAULT_MAX_MESSAGE_SIZE);
        let Ok(request) = theirs.unseal(message) else {
            return;
        };
        let sender = request.reply_to.clone().unwrap_or_default();
        if self.hub.first_warning(&sender) {
            tracing::warn!(%error, reply_to = %sender, "received a request in the other wire format");
        }
        let Some(reply_to) = request.reply_to else {
            return;
        };
        let mut reply = theirs.encode_reply(ReplyBody::Failure(error), theirs.codec());
        reply.correlation_id = request.correlation_id;
        let Ok(reply) = theirs.seal(reply) else {
            return;
        };
        let how = Publish {
            deadline: std::time::Instant::now() + Duration::from_secs(10),
            wait_for_connection: None,
            settle: Settle::None,
        };
        let to = Destination::Queue { name: reply_to };
        if let Err(error) = self.driver.publish(&to, reply, how).await {
            tracing::debug!(%error, "could not answer a request in the other wire format");
        }
    }
}
