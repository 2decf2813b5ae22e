//! One received notification, as a listener's handler sees it.

use std::fmt;
use std::time::SystemTime;

use serde::de::DeserializeOwned;

use super::Priority;
use crate::codec::{AnyCodec, Codec, CodecError};
use crate::context::Context;

/// One received notification.
pub struct Notification {
    pub(super) priority: Priority,
    pub(super) event_type: String,
    pub(super) publisher_id: String,
    pub(super) message_id: String,
    pub(super) timestamp: SystemTime,
    pub(super) context: Context,
    pub(super) payload: Vec<u8>,
    pub(super) codec: AnyCodec,
}

impl Notification {
    /// Its priority.
    pub fn priority(&self) -> Priority {
        self.priority
    }

    /// What happened, e.g. `volume.create.end`.
    pub fn event_type(&self) -> &str {
        &self.event_type
    }

    /// Who emitted it, e.g. `volume.host-1`.
    pub fn publisher_id(&self) -> &str {
        &self.publisher_id
    }

    /// Its unique id (the same on a redelivered copy).
    pub fn message_id(&self) -> &str {
        &self.message_id
    }

    /// When it was emitted.
    pub fn timestamp(&self) -> SystemTime {
        self.timestamp
    }

    /// The context of the request that caused it.
    pub fn context(&self) -> &Context {
        &self.context
    }

    /// The payload decoded as `T`.
    pub fn payload<T: DeserializeOwned>(&self) -> Result<T, CodecError> {
        self.codec.decode(&self.payload)
    }

    /// The encoded payload, for event types the handler does not know.
    pub fn raw_payload(&self) -> &[u8] {
        &self.payload
    }
}

impl fmt::Debug for Notification {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Notification")
            .field("priority", &self.priority)
            .field("event_type", &self.event_type)
            .field("publisher_id", &self.publisher_id)
            .field("message_id", &self.message_id)
            .field("context", &self.context)
            .field("payload_len", &self.payload.len())
            .finish()
    }
}
