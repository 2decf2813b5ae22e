//! What a driver tells its transport ([`Events`]: replies, refused
//! requests, lost connections), and where that lands ([`Hub`]): the
//! transport's table of pending calls, read through its wire format.

use std::collections::HashSet;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use super::pending::{PendingCalls, parse_id};
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
    /// Senders already warned about (a message in the other wire format).
    warned: Mutex<HashSet<String>>,
}

impl Hub {
    pub(crate) fn new(wire: Arc<dyn WireFormat>) -> Self {
        Self {
            pending: Arc::default(),
            wire,
            closed: AtomicBool::new(false),
            warned: Mutex::default(),
        }
    }

    /// True the first time `sender` is named (of the last thousand).
    pub(crate) fn first_warning(&self, sender: &str) -> bool {
        let mut warned = self.warned.lock().unwrap_or_else(|p| p.into_inner());
        if warned.len() >= 1000 {
            warned.clear();
        }
        warned.insert(sender.to_owned())
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

    /// Unseals a reply and hands it to its call. A reply in the other wire
    /// format fails its call (when it names one) with an error saying so.
    pub(crate) fn reply(&self, message: Message) {
        let received = super::mismatch::foreign(&*self.wire, &message);
        // Parsed now: the message moves on. `Some(None)`: not one of ours.
        let call = message.correlation_id.as_deref().map(parse_id);
        match (self.wire.unseal(message), received, call) {
            (Ok(message), _, _) => {
                self.pending.deliver(message);
            }
            (Err(_), Some(received), Some(call)) => {
                if let Some(id) = call {
                    let error = super::mismatch::wrong_wire(received, &*self.wire);
                    self.pending.fail(id, error);
                }
            }
            (Err(error), _, _) => tracing::warn!(%error, "dropped an unreadable reply"),
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

/// The id of a call waiting for its reply (see [`Events::refused`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CallId(pub(crate) u128);

/// What a driver tells its transport: replies, refused requests, a lost
/// connection. Cheap to clone.
#[derive(Clone)]
pub struct Events(pub(crate) Arc<Hub>);

impl Events {
    /// A message arrived on the reply address.
    pub fn reply(&self, message: Message) {
        self.0.reply(message);
    }

    /// The request of call `call` was refused or returned by the broker:
    /// the call fails at once with `error`.
    pub fn refused(&self, call: CallId, error: RpcError) {
        self.0.refused(call, error);
    }

    /// The connection ended (`reason` says why): the calls in flight fail
    /// with [`RpcError::Connection`] (nobody can know whether they ran).
    pub fn lost(&self, reason: &str) {
        self.0.lost(reason);
    }
}

impl fmt::Debug for Events {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Events").finish_non_exhaustive()
    }
}
