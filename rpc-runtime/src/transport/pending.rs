//! Calls waiting for their reply, keyed by correlation id.
//!
//! A caller registers before publishing and holds a [`PendingCall`]; the
//! transport's reply consumer hands it every message carrying its
//! correlation id (a call with a call monitor receives heartbeats before
//! its reply). Dropping the `PendingCall` (the caller got its answer, gave
//! up, timed out, or its future was dropped) removes the entry, so a late
//! reply finds nothing and is discarded.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::Notify;

use crate::error::RpcError;
use crate::message::Message;
use crate::uniform_hash::Uniform;

/// Where the messages of one call wait for it. Lighter than a channel per
/// call (tokio's allocates a block of 32 slots up front): most calls get one
/// message.
#[derive(Debug, Default)]
struct Inbox {
    messages: Mutex<Queue>,
    ready: Notify,
}

/// Messages in arrival order; the first one waiting needs no allocation.
#[derive(Debug, Default)]
struct Queue {
    head: Option<Result<Message, RpcError>>,
    rest: VecDeque<Result<Message, RpcError>>,
}

impl Inbox {
    fn push(&self, message: Result<Message, RpcError>) {
        {
            let mut queue = self.messages.lock().unwrap_or_else(|p| p.into_inner());
            if queue.head.is_none() && queue.rest.is_empty() {
                queue.head = Some(message);
            } else {
                queue.rest.push_back(message);
            }
        }
        self.ready.notify_one();
    }

    fn pop(&self) -> Option<Result<Message, RpcError>> {
        let mut queue = self.messages.lock().unwrap_or_else(|p| p.into_inner());
        queue.head.take().or_else(|| queue.rest.pop_front())
    }
}

type Slot = Arc<Inbox>;

/// The table of calls waiting for replies on one reply queue.
///
/// Correlation ids are random 128-bit numbers: every server a client called
/// learns its reply queue's name, and must not be able to guess the ids of
/// calls it did not receive.
#[derive(Debug, Default)]
pub(crate) struct PendingCalls {
    /// Keyed by random 128-bit ids, uniform already (see [`Uniform`]): a
    /// forged reply only looks an id up; it cannot choose what the table
    /// holds.
    slots: Mutex<HashMap<u128, Slot, Uniform>>,
    /// How many entries `slots` holds, readable without its lock.
    count: AtomicUsize,
}

impl PendingCalls {
    /// Hands a reply (unsealed) to its call. Returns false (after logging
    /// why) when nobody waits for it.
    pub(crate) fn deliver(&self, message: Message) -> bool {
        let Some(text) = message.correlation_id.as_deref() else {
            tracing::warn!("dropped a reply without correlation id");
            return false;
        };
        let Some(id) = parse_id(text) else {
            tracing::debug!(correlation_id = %text, "dropped a reply whose correlation id is none of ours");
            return false;
        };
        let delivered = self.complete_id(id, Ok(message));
        if !delivered {
            tracing::debug!(correlation_id = %format_args!("{id:032x}"), "dropped a reply nobody waits for (late or duplicate)");
        }
        delivered
    }

    /// Registers a new call and returns its handle (which holds the id).
    pub(crate) fn register(self: &Arc<Self>) -> PendingCall {
        let inbox = Arc::new(Inbox::default());
        let id = loop {
            let id = uuid::Uuid::new_v4().as_u128();
            let mut slots = self.lock();
            if let std::collections::hash_map::Entry::Vacant(slot) = slots.entry(id) {
                slot.insert(Arc::clone(&inbox));
                self.count.fetch_add(1, Ordering::Relaxed);
                break id;
            }
        };
        crate::telemetry::pending_calls(1.0);
        PendingCall {
            id,
            table: Arc::clone(self),
            inbox,
        }
    }

    /// Fails the call with this id (its request was refused or returned).
    pub(crate) fn fail(&self, id: u128, error: RpcError) -> bool {
        self.complete_id(id, Err(error))
    }

    fn complete_id(&self, id: u128, reply: Result<Message, RpcError>) -> bool {
        let inbox = self.lock().get(&id).cloned();
        match inbox {
            Some(inbox) => {
                inbox.push(reply);
                true
            }
            None => false,
        }
    }

    /// Fails every waiting call with `error` (e.g. the connection was lost).
    pub(crate) fn fail_all(&self, error: &RpcError) {
        let slots: Vec<Slot> = {
            let mut slots = self.lock();
            self.count.fetch_sub(slots.len(), Ordering::Relaxed);
            slots.drain().map(|(_, inbox)| inbox).collect()
        };
        for inbox in slots {
            inbox.push(Err(error.clone()));
        }
    }

    /// How many calls wait right now.
    pub(crate) fn len(&self) -> usize {
        self.count.load(Ordering::Relaxed)
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<u128, Slot, Uniform>> {
        // The map stays consistent even if a holder panicked: every operation
        // is a single insert or remove.
        self.slots
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// One registered call; dropping it forgets the call.
#[derive(Debug)]
pub(crate) struct PendingCall {
    id: u128,
    table: Arc<PendingCalls>,
    inbox: Slot,
}

/// A correlation id as a call's id (ours are 32 hex digits).
pub(crate) fn parse_id(correlation_id: &str) -> Option<u128> {
    u128::from_str_radix(correlation_id, 16).ok()
}

impl PendingCall {
    /// The call's id (its correlation id as a number).
    pub(crate) fn id(&self) -> u128 {
        self.id
    }

    /// The correlation id to put on the request.
    pub(crate) fn correlation_id(&self) -> String {
        format!("{:032x}", self.id)
    }

    /// Waits for the next message of this call (no timeout here: the caller
    /// adds one).
    pub(crate) async fn next(&mut self) -> Result<Message, RpcError> {
        loop {
            if let Some(message) = self.inbox.pop() {
                return message;
            }
            self.inbox.ready.notified().await;
        }
    }
}

impl Drop for PendingCall {
    fn drop(&mut self) {
        crate::telemetry::pending_calls(-1.0);
        if self.table.lock().remove(&self.id).is_some() {
            self.table.count.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn replies_reach_their_call_and_dropped_calls_leave_nothing() {
        let table = Arc::new(PendingCalls::default());
        let mut first = table.register();
        let second = table.register();
        assert_eq!(table.len(), 2);
        let reply = |id: String| Message {
            correlation_id: Some(id),
            body: vec![7],
            ..Message::default()
        };
        assert!(table.deliver(reply(first.correlation_id())));
        assert_eq!(first.next().await, Ok(reply(first.correlation_id())));
        // A call keeps its entry (heartbeats may precede the reply) until dropped.
        assert_eq!(table.len(), 2);
        drop(first);
        let late = second.correlation_id();
        drop(second);
        assert_eq!(table.len(), 0);
        assert!(!table.deliver(reply(late)));
        assert!(!table.deliver(reply("not-a-number".to_owned())));
        assert!(!table.deliver(Message::default()));
    }

    #[tokio::test]
    async fn fail_all_wakes_every_caller() {
        let table = Arc::new(PendingCalls::default());
        let mut call = table.register();
        table.fail_all(&RpcError::Closed);
        assert_eq!(call.next().await, Err(RpcError::Closed));
        assert_eq!(table.len(), 0);
        // Its entry went with the failure: dropping the call counts nothing twice.
        let other = table.register();
        drop(call);
        assert_eq!(table.len(), 1);
        drop(other);
        assert_eq!(table.len(), 0);
    }
}
