//! The in-process broker: RabbitMQ's routing semantics, in a mutex.
//!
//! [`MemoryBroker`] models the parts of AMQP the runtime uses: the default
//! exchange (a queue by name), topic exchanges with exact-key bindings,
//! fanout exchanges, queues with competing consumers served round-robin,
//! messages waiting in a queue that has no consumer (dropped once their
//! `expiration` passed, and the oldest first past a queue's maximum length),
//! and `mandatory` publishing that fails with [`RpcError::Undeliverable`]
//! when no queue is bound.
//!
//! Unlike RabbitMQ there is no prefetch: a message is handed to a consumer
//! when published, and a server's concurrency limit does the bounding.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::error::RpcError;
use crate::message::Message;
use crate::transport::driver::{Acker, Delivery, Feed};

/// An in-memory broker; clones share it.
///
/// ```
/// # async fn demo() {
/// let broker = rpc_runtime::transport::MemoryBroker::new();
/// let server_side = broker.connect();
/// let client_side = broker.connect();
/// # }
/// ```
#[derive(Clone, Default)]
pub struct MemoryBroker {
    state: Arc<Mutex<State>>,
    next_id: Arc<AtomicU64>,
}

#[derive(Default)]
struct State {
    queues: HashMap<String, Queue>,
    exchanges: HashMap<String, Exchange>,
}

#[derive(Default)]
struct Exchange {
    fanout: bool,
    /// (routing key, queue); the key is ignored by fanout exchanges.
    bindings: Vec<(String, String)>,
}

struct Queue {
    name: Arc<str>,
    max_length: Option<u32>,
    consumers: Vec<Consumer>,
    next: usize,
    waiting: VecDeque<(Message, Instant)>,
}

impl Queue {
    fn named(name: &str) -> Self {
        Self {
            name: name.into(),
            max_length: None,
            consumers: Vec::new(),
            next: 0,
            waiting: VecDeque::new(),
        }
    }
}

/// Where a queue's consumer takes its messages.
#[derive(Clone)]
pub(super) enum ConsumerTx {
    /// A listener's channel, as deliveries.
    Listener(Feed),
    /// A function run at once (after the broker's lock is released): a
    /// reply queue's, which hands each reply to its pending call without a
    /// task in between.
    Callback(Arc<dyn Fn(Message) + Send + Sync>),
}

impl ConsumerTx {
    /// Hands `message` over; gives it back if the consumer is gone.
    fn send(&self, queue: &Arc<str>, message: Message) -> Option<Message> {
        match self {
            ConsumerTx::Listener(tx) => {
                let delivery = Delivery::new(Arc::clone(queue), false, message, Acker::settled());
                tx.send(delivery).err().map(Delivery::into_message)
            }
            ConsumerTx::Callback(take) => {
                take(message);
                None
            }
        }
    }
}

struct Consumer {
    id: u64,
    tx: ConsumerTx,
}

impl MemoryBroker {
    /// A new, empty broker.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many messages wait in `queue` for a consumer (`None`: no such queue).
    pub fn waiting(&self, queue: &str) -> Option<usize> {
        self.lock().queues.get(queue).map(|q| q.waiting.len())
    }

    /// How many messages wait in `queue` and how many consumers read it,
    /// if it exists.
    pub(super) fn status(&self, queue: &str) -> Option<(usize, usize)> {
        self.lock()
            .queues
            .get(queue)
            .map(|q| (q.waiting.len(), q.consumers.len()))
    }

    /// Whether exchange `name` exists.
    pub(super) fn has_exchange(&self, name: &str) -> bool {
        self.lock().exchanges.contains_key(name)
    }

    /// The names of the queues that exist, sorted.
    pub fn queues(&self) -> Vec<String> {
        let mut names: Vec<String> = self.lock().queues.keys().cloned().collect();
        names.sort();
        names
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    pub(super) fn declare_exchange(&self, name: &str, fanout: bool) {
        self.lock()
            .exchanges
            .entry(name.to_owned())
            .or_insert_with(|| Exchange {
                fanout,
                bindings: Vec::new(),
            });
    }

    pub(super) fn declare_queue(&self, name: &str) {
        self.lock()
            .queues
            .entry(name.to_owned())
            .or_insert_with(|| Queue::named(name));
    }

    pub(super) fn limit_queue(&self, name: &str, max_length: Option<u32>) {
        if let Some(queue) = self.lock().queues.get_mut(name) {
            queue.max_length = max_length;
        }
    }

    pub(super) fn bind(&self, queue: &str, exchange: &str, key: &str) {
        let mut state = self.lock();
        let exchange = state.exchanges.entry(exchange.to_owned()).or_default();
        let binding = (key.to_owned(), queue.to_owned());
        if !exchange.bindings.contains(&binding) {
            exchange.bindings.push(binding);
        }
    }

    pub(super) fn delete_queue(&self, name: &str) {
        self.lock().delete_queue(name);
    }

    /// Deletes `name` if nothing waits in it and nobody consumes it.
    pub(super) fn delete_idle_queue(&self, name: &str) {
        let mut state = self.lock();
        let idle = state
            .queues
            .get(name)
            .is_some_and(|q| q.waiting.is_empty() && q.consumers.is_empty());
        if idle {
            state.delete_queue(name);
        }
    }

    pub(super) fn subscribe(&self, queue: &str, tx: &ConsumerTx) -> u64 {
        let id = self.id();
        let mut state = self.lock();
        let queue_state = state
            .queues
            .entry(queue.to_owned())
            .or_insert_with(|| Queue::named(queue));
        queue_state.consumers.push(Consumer { id, tx: tx.clone() });
        let waiting = std::mem::take(&mut queue_state.waiting);
        let now = Instant::now();
        let handoffs: Vec<Handoff> = waiting
            .into_iter()
            .filter_map(|(message, since)| pick(queue_state, message, since, now))
            .collect();
        drop(state);
        for handoff in handoffs {
            self.hand_off(handoff);
        }
        id
    }

    pub(super) fn unsubscribe(&self, ids: &[u64]) {
        for queue in self.lock().queues.values_mut() {
            queue.consumers.retain(|c| !ids.contains(&c.id));
        }
    }

    /// Routes `message`; with `mandatory`, fails when no queue takes it.
    /// Consumers are picked under the lock and handed their messages after
    /// it: a hand-off wakes a task (or runs a reply's callback), which
    /// would otherwise hold every other publisher back.
    pub(super) fn publish(
        &self,
        exchange: &str,
        key: &str,
        message: Message,
        mandatory: bool,
    ) -> Result<(), RpcError> {
        let mut first = None;
        let mut more = Vec::new();
        let delivered = {
            let mut state = self.lock();
            let State { queues, exchanges } = &mut *state;
            let now = Instant::now();
            let mut delivered = false;
            if exchange.is_empty() {
                if let Some(queue) = queues.get_mut(key) {
                    first = pick(queue, message, now, now);
                    delivered = true;
                }
            } else if let Some(ex) = exchanges.get(exchange) {
                let mut targets = ex
                    .bindings
                    .iter()
                    .filter(|(k, _)| ex.fanout || k == key)
                    .map(|(_, q)| q)
                    .peekable();
                let mut message = Some(message);
                while let Some(name) = targets.next() {
                    // The last target takes the message itself; others a copy.
                    let copy = match targets.peek() {
                        Some(_) => message.clone(),
                        None => message.take(),
                    };
                    if let (Some(queue), Some(copy)) = (queues.get_mut(name), copy) {
                        let handoff = pick(queue, copy, now, now);
                        match first {
                            None => first = handoff,
                            Some(_) => more.extend(handoff),
                        }
                        delivered = true;
                    }
                }
            }
            delivered
        };
        for handoff in first.into_iter().chain(more) {
            self.hand_off(handoff);
        }
        if delivered || !mandatory {
            return Ok(());
        }
        Err(RpcError::Undeliverable {
            destination: RpcError::destination_of(exchange, key),
        })
    }

    /// Gives a picked consumer its message; if it went away meanwhile, it
    /// is removed and the message goes to the queue's next one (or waits).
    fn hand_off(&self, handoff: Handoff) {
        let Handoff {
            consumer,
            tx,
            queue,
            message,
        } = handoff;
        let Some(back) = tx.send(&queue, message) else {
            return;
        };
        drop(tx);
        let retry = {
            let mut state = self.lock();
            let Some(queue) = state.queues.get_mut(&*queue) else {
                return;
            };
            queue.consumers.retain(|c| c.id != consumer);
            let now = Instant::now();
            pick(queue, back, now, now)
        };
        if let Some(retry) = retry {
            self.hand_off(retry);
        }
    }
}

/// A message and the consumer picked for it, to hand over outside the lock.
struct Handoff {
    consumer: u64,
    tx: ConsumerTx,
    queue: Arc<str>,
    message: Message,
}

impl State {
    fn delete_queue(&mut self, name: &str) {
        self.queues.remove(name);
        for exchange in self.exchanges.values_mut() {
            exchange.bindings.retain(|(_, queue)| queue != name);
        }
        // Auto-delete fanout exchanges lose their last binding with the queue.
        self.exchanges
            .retain(|_, e| !(e.fanout && e.bindings.is_empty()));
    }
}

/// Picks the queue's next consumer for `message` (round-robin), or keeps
/// the message waiting when it has none; drops it if it expired. It has
/// been in the queue `since`; `now` is read once by the caller.
fn pick(queue: &mut Queue, message: Message, since: Instant, now: Instant) -> Option<Handoff> {
    if let Some(ttl) = message.expiration_ms {
        if now.saturating_duration_since(since) >= Duration::from_millis(ttl) {
            return None;
        }
    }
    let mut message = message;
    message.received_at = Some(now);
    if queue.consumers.is_empty() {
        queue.waiting.push_back((message, since));
        if let Some(max) = queue.max_length {
            while queue.waiting.len() > max as usize {
                queue.waiting.pop_front();
            }
        }
        return None;
    }
    let index = queue.next % queue.consumers.len();
    queue.next = queue.next.wrapping_add(1);
    let consumer = &queue.consumers[index];
    Some(Handoff {
        consumer: consumer.id,
        tx: consumer.tx.clone(),
        queue: Arc::clone(&queue.name),
        message,
    })
}

impl fmt::Debug for MemoryBroker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryBroker")
            .field("queues", &self.queues())
            .finish()
    }
}
