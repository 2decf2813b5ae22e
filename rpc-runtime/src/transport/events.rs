//! Where a driver's [`Events`](super::driver::Events) land: the transport's
//! table of pending calls, and the wire format that reads replies.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use super::driver::CallId;
use super::pending::PendingCalls;
use crate::error::RpcError;
use crate::message::Message;
use crate::wire::WireFormat;

/// The receiving end of one transport's events.
#[derive(Debug)]
pub(crate) struct Hub {
    pub(crate) pending: Arc<PendingCalls>,
    /// Reads replies as they came off the wire.
    wire: Arc<dyn WireFormat>,
    /// The transport was closed: nothing is sent any more.
    closed: AtomicBool,
}

impl Hub {
    pub(crate) fn new(wire: Arc<dyn WireFormat>) -> Self {
        Self {
            pending: Arc::default(),
            wire,
            closed: AtomicBool::new(false),
        }
    }

    /// Marks the transport closed; calls waiting fail with [`RpcError::Closed`].
    pub(crate) fn close(&self) {
        self.closed.store(true, Ordering::Relaxed);
        self.pending.fail_all(&RpcError::Closed);
    }

    /// Fails with [`RpcError::Closed`] once the transport was closed.
    pub(crate) fn check_open(&self) -> Result<(), RpcError> {
        if self.closed.load(Ordering::Relaxed) {
            return Err(RpcError::Closed);
        }
        Ok(())
    }

    /// The wire format of the connection.
    pub(crate) fn wire(&self) -> &Arc<dyn WireFormat> {
        &self.wire
    }

    /// Unseals a reply and hands it to its call.
    pub(crate) fn reply(&self, message: Message) {
        match self.wire.unseal(message) {
            Ok(message) => {
                self.pending.deliver(message);
            }
            Err(error) => tracing::warn!(%error, "dropped an unreadable reply"),
        }
    }

    pub(crate) fn refused(&self, call: CallId, error: RpcError) {
        self.pending.fail(call.0, error);
    }

    pub(crate) fn lost(&self, reason: &str) {
        self.pending
            .fail_all(&RpcError::Connection(reason.to_owned()));
    }
}
