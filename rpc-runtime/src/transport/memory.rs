//! An in-process broker with RabbitMQ's routing semantics, for tests and for
//! running a whole deployment in one process.
//!
//! [`MemoryBroker`] models the parts of AMQP the runtime uses: the default
//! exchange (a queue by name), topic exchanges with exact-key bindings,
//! fanout exchanges, queues with competing consumers served round-robin,
//! messages waiting in a queue that has no consumer (dropped once their
//! `expiration` passed), exclusive queues that vanish with their owner, and
//! `mandatory` publishing that fails with [`RpcError::Undeliverable`] when no
//! queue is bound. Every transport made by [`MemoryBroker::connect`] is like
//! one AMQP connection to that broker: it has its own reply queue.
//!
//! Unlike RabbitMQ there is no prefetch: a message is handed to a consumer
//! when published, and a server's concurrency limit does the bounding.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::codec::DEFAULT_MAX_MESSAGE_SIZE;
use crate::error::RpcError;
use crate::message::Message;
use crate::pending::{PendingCall, PendingCalls};
use crate::topology;
use crate::transport::amqp::DEFAULT_CONTROL_EXCHANGE;
use crate::transport::{
    BoxFuture, Confirm, Delivery, Destination, Driver, ListenSpec, Listener, Patience, QueueSpec,
    Settled, Transport,
};
use crate::wire::{Wire, WireFormat};

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

type ConsumerTx = mpsc::UnboundedSender<(Arc<str>, Message)>;

struct Consumer {
    id: u64,
    tx: ConsumerTx,
}

impl MemoryBroker {
    /// A new, empty broker.
    pub fn new() -> Self {
        Self::default()
    }

    /// A transport on this broker with the default control exchange.
    pub fn connect(&self) -> Transport {
        self.connect_with(DEFAULT_CONTROL_EXCHANGE)
    }

    /// A transport on this broker using `control_exchange`.
    pub fn connect_with(&self, control_exchange: &str) -> Transport {
        self.connect_with_wire(control_exchange, Wire::Native)
    }

    /// A transport on this broker using `control_exchange` and speaking
    /// `wire` (e.g. [`Wire::Oslo`], to test a service meant to join an
    /// OpenStack deployment).
    pub fn connect_with_wire(&self, control_exchange: &str, wire: Wire) -> Transport {
        let wire = wire.format(DEFAULT_MAX_MESSAGE_SIZE);
        let driver = MemoryDriver {
            broker: self.clone(),
            exchange: control_exchange.to_owned(),
            pending: Arc::new(PendingCalls::new(Arc::clone(&wire))),
            wire: Arc::clone(&wire),
            reply_queue: OnceLock::new(),
            closed: CancellationToken::new(),
        };
        Transport::from_parts(Arc::new(driver), wire)
    }

    /// How many messages wait in `queue` for a consumer (`None`: no such queue).
    pub fn waiting(&self, queue: &str) -> Option<usize> {
        self.lock().queues.get(queue).map(|q| q.waiting.len())
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

    fn declare_exchange(&self, name: &str, fanout: bool) {
        self.lock()
            .exchanges
            .entry(name.to_owned())
            .or_insert_with(|| Exchange {
                fanout,
                bindings: Vec::new(),
            });
    }

    fn declare_queue(&self, name: &str) {
        self.lock()
            .queues
            .entry(name.to_owned())
            .or_insert_with(|| Queue::named(name));
    }

    fn limit_queue(&self, name: &str, max_length: Option<u32>) {
        if let Some(queue) = self.lock().queues.get_mut(name) {
            queue.max_length = max_length;
        }
    }

    fn bind(&self, queue: &str, exchange: &str, key: &str) {
        let mut state = self.lock();
        let exchange = state.exchanges.entry(exchange.to_owned()).or_default();
        let binding = (key.to_owned(), queue.to_owned());
        if !exchange.bindings.contains(&binding) {
            exchange.bindings.push(binding);
        }
    }

    fn delete_queue(&self, name: &str) {
        let mut state = self.lock();
        state.queues.remove(name);
        for exchange in state.exchanges.values_mut() {
            exchange.bindings.retain(|(_, queue)| queue != name);
        }
        // Auto-delete fanout exchanges lose their last binding with the queue.
        state
            .exchanges
            .retain(|_, e| !(e.fanout && e.bindings.is_empty()));
    }

    fn subscribe(&self, queue: &str, tx: &ConsumerTx) -> u64 {
        let id = self.id();
        let mut state = self.lock();
        let queue_state = state
            .queues
            .entry(queue.to_owned())
            .or_insert_with(|| Queue::named(queue));
        queue_state.consumers.push(Consumer { id, tx: tx.clone() });
        let waiting = std::mem::take(&mut queue_state.waiting);
        for (message, since) in waiting {
            deliver(queue_state, message, since);
        }
        id
    }

    fn unsubscribe(&self, ids: &[u64]) {
        for queue in self.lock().queues.values_mut() {
            queue.consumers.retain(|c| !ids.contains(&c.id));
        }
    }

    /// Routes `message`; with `mandatory`, fails when no queue takes it.
    fn publish(
        &self,
        exchange: &str,
        key: &str,
        message: Message,
        mandatory: bool,
    ) -> Result<(), RpcError> {
        let mut state = self.lock();
        let State { queues, exchanges } = &mut *state;
        let now = Instant::now();
        let mut delivered = false;
        if exchange.is_empty() {
            if let Some(queue) = queues.get_mut(key) {
                deliver(queue, message, now);
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
                    deliver(queue, copy, now);
                    delivered = true;
                }
            }
        }
        if delivered || !mandatory {
            return Ok(());
        }
        Err(RpcError::Undeliverable {
            exchange: exchange.to_owned(),
            routing_key: key.to_owned(),
        })
    }
}

/// Hands a message to the queue's next live consumer, or keeps it waiting.
fn deliver(queue: &mut Queue, message: Message, since: Instant) {
    if let Some(ttl) = message.expiration_ms {
        if since.elapsed() >= Duration::from_millis(ttl) {
            return;
        }
    }
    let mut message = message;
    message.received_at = Some(Instant::now());
    while !queue.consumers.is_empty() {
        let index = queue.next % queue.consumers.len();
        queue.next = queue.next.wrapping_add(1);
        match queue.consumers[index]
            .tx
            .send((Arc::clone(&queue.name), message))
        {
            Ok(()) => return,
            Err(mpsc::error::SendError((_, back))) => {
                queue.consumers.remove(index);
                message = back;
            }
        }
    }
    queue.waiting.push_back((message, since));
    if let Some(max) = queue.max_length {
        while queue.waiting.len() > max as usize {
            queue.waiting.pop_front();
        }
    }
}

impl fmt::Debug for MemoryBroker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryBroker")
            .field("queues", &self.queues())
            .finish()
    }
}

/// One "connection" to a [`MemoryBroker`].
struct MemoryDriver {
    broker: MemoryBroker,
    exchange: String,
    pending: Arc<PendingCalls>,
    /// Seals what this connection publishes.
    wire: Arc<dyn WireFormat>,
    reply_queue: OnceLock<String>,
    closed: CancellationToken,
}

impl MemoryDriver {
    fn route(&self, destination: &Destination) -> (String, String) {
        match destination {
            Destination::Topic { topic } => (self.exchange.clone(), topology::topic_queue(topic)),
            Destination::Server { topic, server } => {
                (self.exchange.clone(), topology::server_queue(topic, server))
            }
            Destination::Fanout { topic } => (topology::fanout_exchange(topic), String::new()),
            Destination::RoutingKey { key } => (self.exchange.clone(), key.clone()),
            Destination::Queue { name } => (String::new(), name.clone()),
        }
    }

    /// Consumes `queues`; `exclusive` is deleted when the consumer stops.
    fn subscribe(&self, queues: &[String], exclusive: Option<String>, prefetch: u16) -> Listener {
        let (tx, rx) = mpsc::unbounded_channel();
        let consumers: Vec<u64> = queues
            .iter()
            .map(|queue| self.broker.subscribe(queue, &tx))
            .collect();
        drop(tx);
        let (to_server, deliveries) = mpsc::channel(usize::from(prefetch).max(1));
        let stop = CancellationToken::new();
        let subscription = Subscription {
            broker: self.broker.clone(),
            consumers,
            exclusive_queue: exclusive,
        };
        tokio::spawn(pump(
            rx,
            to_server,
            stop.clone(),
            self.closed.clone(),
            subscription,
        ));
        Listener {
            deliveries,
            _stop: stop.drop_guard(),
        }
    }

    /// The reply queue, declared and consumed on first use.
    fn reply_queue(&self) -> &str {
        self.reply_queue.get_or_init(|| {
            let name = topology::reply_queue();
            let (tx, mut rx) = mpsc::unbounded_channel::<(Arc<str>, Message)>();
            self.broker.declare_queue(&name);
            self.broker.subscribe(&name, &tx);
            let pending = Arc::clone(&self.pending);
            let closed = self.closed.clone();
            tokio::spawn(async move {
                loop {
                    tokio::select! {
                        () = closed.cancelled() => break,
                        reply = rx.recv() => {
                            let Some((_, message)) = reply else { break };
                            pending.deliver(message);
                        }
                    }
                }
            });
            name
        })
    }
}

impl Driver for MemoryDriver {
    fn call(
        &self,
        destination: Destination,
        mut message: Message,
        _patience: Patience,
    ) -> BoxFuture<'_, Result<PendingCall, RpcError>> {
        Box::pin(async move {
            if self.closed.is_cancelled() {
                return Err(RpcError::Closed);
            }
            let reply_to = self.reply_queue().to_owned();
            let call = self.pending.register();
            message.correlation_id = Some(call.correlation_id());
            message.reply_to = Some(reply_to);
            let message = self.wire.seal(message)?;
            let (exchange, key) = self.route(&destination);
            self.broker.publish(&exchange, &key, message, true)?;
            Ok(call)
        })
    }

    fn cast(
        &self,
        destination: Destination,
        message: Message,
        _patience: Patience,
    ) -> BoxFuture<'_, Result<Confirm, RpcError>> {
        Box::pin(async move {
            if self.closed.is_cancelled() {
                return Err(RpcError::Closed);
            }
            let message = self.wire.seal(message)?;
            let (exchange, key) = self.route(&destination);
            self.broker.publish(&exchange, &key, message, true)?;
            Ok(Confirm::Done(Ok(())))
        })
    }

    fn listen(&self, spec: ListenSpec) -> BoxFuture<'_, Result<Listener, RpcError>> {
        Box::pin(async move {
            let broker = &self.broker;
            broker.declare_exchange(&self.exchange, false);
            let topic_queue = topology::topic_queue(&spec.topic);
            let server_queue = topology::server_queue(&spec.topic, &spec.server);
            for queue in [&topic_queue, &server_queue] {
                broker.declare_queue(queue);
                broker.bind(queue, &self.exchange, queue);
            }
            let fanout_exchange = topology::fanout_exchange(&spec.topic);
            let fanout_queue = topology::fanout_queue(&spec.topic);
            broker.declare_exchange(&fanout_exchange, true);
            broker.declare_queue(&fanout_queue);
            broker.bind(&fanout_queue, &fanout_exchange, &spec.topic);

            let queues = [topic_queue, server_queue, fanout_queue.clone()];
            Ok(self.subscribe(&queues, Some(fanout_queue), spec.prefetch))
        })
    }

    fn declare_queue(&self, spec: QueueSpec) -> BoxFuture<'_, Result<(), RpcError>> {
        Box::pin(async move {
            self.broker.declare_exchange(&self.exchange, false);
            self.broker.declare_queue(&spec.name);
            self.broker.limit_queue(&spec.name, spec.max_length);
            for key in &spec.bindings {
                self.broker.bind(&spec.name, &self.exchange, key);
            }
            Ok(())
        })
    }

    fn consume(
        &self,
        queues: Vec<QueueSpec>,
        prefetch: u16,
    ) -> BoxFuture<'_, Result<Listener, RpcError>> {
        Box::pin(async move {
            let mut names = Vec::new();
            for spec in queues {
                names.push(spec.name.clone());
                self.declare_queue(spec).await?;
            }
            Ok(self.subscribe(&names, None, prefetch))
        })
    }

    fn reply(&self, reply_to: String, message: Message) -> BoxFuture<'_, Result<(), RpcError>> {
        Box::pin(async move {
            if self.closed.is_cancelled() {
                return Err(RpcError::Closed);
            }
            let message = self.wire.seal(message)?;
            self.broker.publish("", &reply_to, message, true)
        })
    }

    fn close(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            self.closed.cancel();
            if let Some(queue) = self.reply_queue.get() {
                self.broker.delete_queue(queue);
            }
            self.pending.fail_all(&RpcError::Closed);
        })
    }

    fn pending_calls(&self) -> usize {
        self.pending.len()
    }
}

impl fmt::Debug for MemoryDriver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryDriver")
            .field("exchange", &self.exchange)
            .field("pending_calls", &self.pending.len())
            .finish_non_exhaustive()
    }
}

/// What a listener holds in the broker; released when it stops.
struct Subscription {
    broker: MemoryBroker,
    consumers: Vec<u64>,
    exclusive_queue: Option<String>,
}

async fn pump(
    mut from_broker: mpsc::UnboundedReceiver<(Arc<str>, Message)>,
    to_server: mpsc::Sender<Delivery>,
    stop: CancellationToken,
    closed: CancellationToken,
    subscription: Subscription,
) {
    let mut unsent = None;
    loop {
        tokio::select! {
            () = stop.cancelled() => break,
            () = closed.cancelled() => break,
            next = from_broker.recv() => {
                let Some((queue, message)) = next else { break };
                let delivery = Delivery {
                    queue: queue.clone(),
                    redelivered: false,
                    message,
                    acker: Box::new(Settled),
                };
                if let Err(mpsc::error::SendError(delivery)) = to_server.send(delivery).await {
                    unsent = Some((queue, delivery.message));
                    break;
                }
            }
        }
    }
    // Like a closed AMQP channel: unacked messages go back to their queues.
    let Subscription {
        broker,
        consumers,
        exclusive_queue,
    } = subscription;
    broker.unsubscribe(&consumers);
    if let Some(queue) = &exclusive_queue {
        broker.delete_queue(queue);
    }
    from_broker.close();
    let mut requeue: Vec<(Arc<str>, Message)> = unsent.into_iter().collect();
    while let Ok(item) = from_broker.try_recv() {
        requeue.push(item);
    }
    for (queue, message) in requeue {
        if exclusive_queue.as_deref() != Some(&*queue) {
            let _ = broker.publish("", &queue, message, false);
        }
    }
}
