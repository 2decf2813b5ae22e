//! The in-memory transport: a broker with RabbitMQ's routing semantics
//! ([`MemoryBroker`], in `broker.rs`), for tests and for running a whole
//! deployment in one process, and its driver. Every transport made by
//! [`MemoryBroker::connect`] is like one AMQP connection to that broker: it
//! has its own reply queue, and a server's fanout queue vanishes with it.

mod broker;

use std::fmt;
use std::sync::{Arc, OnceLock};

use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

pub use broker::MemoryBroker;

use crate::error::RpcError;
use crate::future::BoxFuture;
use crate::message::Message;
use crate::topology;
use crate::transport::driver::{
    Confirm, Delivery, Driver, Events, Listener, Peer, Publish, QueueStatus, Settled, Source,
    Subscribe,
};
use crate::transport::{Destination, Transport};
use crate::wire::Wire;

impl MemoryBroker {
    /// A transport on this broker with the default control exchange.
    pub fn connect(&self) -> Transport {
        self.connect_with(topology::DEFAULT_CONTROL_EXCHANGE)
    }

    /// A transport on this broker using `control_exchange`.
    pub fn connect_with(&self, control_exchange: &str) -> Transport {
        self.connect_with_wire(control_exchange, Wire::Native)
    }

    /// A transport on this broker using `control_exchange` and speaking
    /// `wire` (e.g. [`Wire::Oslo`], to test a service meant to join an
    /// OpenStack deployment).
    pub fn connect_with_wire(&self, control_exchange: &str, wire: Wire) -> Transport {
        Transport::with_driver(wire, |events| MemoryDriver {
            broker: self.clone(),
            exchange: control_exchange.to_owned(),
            events,
            reply_queue: OnceLock::new(),
            closed: CancellationToken::new(),
        })
    }
}

/// One "connection" to a [`MemoryBroker`].
struct MemoryDriver {
    broker: MemoryBroker,
    exchange: String,
    events: Events,
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

    /// Declares the queues of `spec` and their bindings; returns their
    /// names and the one to delete when the subscription stops.
    fn declare_source(&self, spec: &Subscribe) -> (Vec<String>, Option<String>) {
        let broker = &self.broker;
        broker.declare_exchange(&self.exchange, false);
        let mut queues = Vec::new();
        for (queue, keys) in spec.source.bindings() {
            broker.declare_queue(&queue);
            broker.limit_queue(&queue, spec.max_length);
            for key in &keys {
                broker.bind(&queue, &self.exchange, key);
            }
            queues.push(queue);
        }
        let Source::Server { topic, .. } = &spec.source else {
            return (queues, None);
        };
        let fanout_exchange = topology::fanout_exchange(topic);
        let fanout_queue = topology::fanout_queue(topic);
        broker.declare_exchange(&fanout_exchange, true);
        broker.declare_queue(&fanout_queue);
        broker.bind(&fanout_queue, &fanout_exchange, topic);
        queues.push(fanout_queue.clone());
        (queues, Some(fanout_queue))
    }

    /// The reply queue, declared and consumed on first use.
    fn reply_queue(&self) -> &str {
        self.reply_queue.get_or_init(|| {
            let name = topology::reply_queue();
            let (tx, mut rx) = mpsc::unbounded_channel::<(Arc<str>, Message)>();
            self.broker.declare_queue(&name);
            self.broker.subscribe(&name, &tx);
            let events = self.events.clone();
            let closed = self.closed.clone();
            tokio::spawn(async move {
                loop {
                    tokio::select! {
                        () = closed.cancelled() => break,
                        reply = rx.recv() => {
                            let Some((_, message)) = reply else { break };
                            events.reply(message);
                        }
                    }
                }
            });
            name
        })
    }
}

impl Driver for MemoryDriver {
    fn publish(
        &self,
        to: Destination,
        message: Message,
        _how: Publish,
    ) -> BoxFuture<'_, Result<Confirm, RpcError>> {
        Box::pin(async move {
            if self.closed.is_cancelled() {
                return Err(RpcError::Closed);
            }
            let (exchange, key) = self.route(&to);
            self.broker.publish(&exchange, &key, message, true)?;
            Ok(Confirm::Done(Ok(())))
        })
    }

    fn subscribe(&self, spec: Subscribe) -> BoxFuture<'_, Result<Listener, RpcError>> {
        Box::pin(async move {
            let (queues, exclusive) = self.declare_source(&spec);
            let own = spec.source.own_queue();
            Ok(self.consume(&queues, exclusive, own, spec.prefetch))
        })
    }

    fn declare(&self, spec: Subscribe) -> BoxFuture<'_, Result<(), RpcError>> {
        Box::pin(async move {
            self.declare_source(&spec);
            Ok(())
        })
    }

    fn reply_address(&self, _how: Publish) -> BoxFuture<'_, Result<String, RpcError>> {
        Box::pin(async move {
            if self.closed.is_cancelled() {
                return Err(RpcError::Closed);
            }
            Ok(self.reply_queue().to_owned())
        })
    }

    fn peer(&self) -> Peer {
        Peer {
            system: Some("memory"),
            exchange: Some(self.exchange.clone()),
            broker: None,
        }
    }

    fn queue_status(&self, name: &str) -> BoxFuture<'_, Result<Option<QueueStatus>, RpcError>> {
        let status = self
            .broker
            .status(name)
            .map(|(messages, consumers)| QueueStatus {
                messages: messages as u64,
                consumers: consumers as u64,
            });
        Box::pin(async move { Ok(status) })
    }

    fn exchange_exists(&self, name: &str) -> BoxFuture<'_, Result<bool, RpcError>> {
        let exists = self.broker.has_exchange(name);
        Box::pin(async move { Ok(exists) })
    }

    fn close(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            self.closed.cancel();
            if let Some(queue) = self.reply_queue.get() {
                self.broker.delete_queue(queue);
            }
        })
    }
}

impl MemoryDriver {
    /// Consumes `queues`; `exclusive` is deleted when the consumer stops,
    /// and `own` too if it is idle then.
    fn consume(
        &self,
        queues: &[String],
        exclusive: Option<String>,
        own: Option<String>,
        prefetch: u16,
    ) -> Listener {
        let (tx, rx) = mpsc::unbounded_channel();
        let consumers: Vec<u64> = queues
            .iter()
            .map(|queue| self.broker.subscribe(queue, &tx))
            .collect();
        drop(tx);
        let (to_server, deliveries) = mpsc::channel(usize::from(prefetch).max(1));
        let stop = CancellationToken::new();
        let held = Held {
            broker: self.broker.clone(),
            consumers,
            exclusive_queue: exclusive,
            own_queue: own,
        };
        let (released, on_release) = oneshot::channel();
        let closed = self.closed.clone();
        let stopped = stop.clone();
        tokio::spawn(async move {
            pump(rx, to_server, stopped, closed, held).await;
            drop(released);
        });
        Listener::new(deliveries, stop.drop_guard()).released_by(on_release)
    }
}

impl fmt::Debug for MemoryDriver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryDriver")
            .field("exchange", &self.exchange)
            .finish_non_exhaustive()
    }
}

/// What a listener holds in the broker; released when it stops.
struct Held {
    broker: MemoryBroker,
    consumers: Vec<u64>,
    exclusive_queue: Option<String>,
    /// Removed when the listener stops, if nothing waits in it and nobody
    /// else consumes it.
    own_queue: Option<String>,
}

async fn pump(
    mut from_broker: mpsc::UnboundedReceiver<(Arc<str>, Message)>,
    to_server: mpsc::Sender<Delivery>,
    stop: CancellationToken,
    closed: CancellationToken,
    held: Held,
) {
    let mut unsent = None;
    loop {
        tokio::select! {
            () = stop.cancelled() => break,
            () = closed.cancelled() => break,
            next = from_broker.recv() => {
                let Some((queue, message)) = next else { break };
                let delivery = Delivery::new(queue.clone(), false, message, Box::new(Settled));
                if let Err(mpsc::error::SendError(delivery)) = to_server.send(delivery).await {
                    unsent = Some((queue, delivery.message));
                    break;
                }
            }
        }
    }
    // Like a closed AMQP channel: unacked messages go back to their queues.
    let Held {
        broker,
        consumers,
        exclusive_queue,
        own_queue,
    } = held;
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
    if let Some(queue) = &own_queue {
        broker.delete_idle_queue(queue);
    }
}
