//! The in-memory transport: a broker with RabbitMQ's routing semantics
//! ([`MemoryBroker`], in `broker.rs`), for tests and for running a whole
//! deployment in one process, and its driver. Every transport made by
//! [`MemoryBroker::connect`] is like one AMQP connection to that broker: it
//! has its own reply queue, and a server's fanout queue vanishes with it.

mod broker;

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use broker::ConsumerTx;
pub use broker::MemoryBroker;

use crate::error::RpcError;
use crate::future::BoxFuture;
use crate::message::Message;
use crate::topology::{self, Exchange, Lifetime};
use crate::transport::driver::{
    Confirm, Delivery, Driver, Events, Listener, Peer, Publish, QueueStatus, Subscribe,
};
use crate::transport::{Destination, Transport};
use crate::wire::{Wire, WireFormat};

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
        self.connect_with_format(
            control_exchange,
            wire.format(crate::codec::DEFAULT_MAX_MESSAGE_SIZE),
        )
    }

    /// A transport on this broker using `control_exchange` and speaking a
    /// wire format of your own (see [`WireFormat`]).
    pub fn connect_with_format(
        &self,
        control_exchange: &str,
        format: Arc<dyn WireFormat>,
    ) -> Transport {
        Transport::with_format(format, |events| MemoryDriver {
            broker: self.clone(),
            exchange: control_exchange.to_owned(),
            events,
            reply_queue: OnceLock::new(),
            closed: AtomicBool::new(false),
            held: Arc::default(),
        })
    }
}

/// One "connection" to a [`MemoryBroker`].
struct MemoryDriver {
    broker: MemoryBroker,
    exchange: String,
    events: Events,
    reply_queue: OnceLock<String>,
    /// Set once closed: a flag, read on every publish.
    closed: AtomicBool,
    /// What this connection's listeners hold, let go when it closes.
    held: Arc<Mutex<Vec<Held>>>,
}

impl MemoryDriver {
    /// The name of `exchange` on this connection.
    fn exchange<'a>(&'a self, exchange: &'a Exchange) -> &'a str {
        match exchange {
            Exchange::Control => &self.exchange,
            Exchange::Fanout(name) => name,
            Exchange::Direct => "",
        }
    }

    /// Declares the queues of `spec` and their bindings; returns their
    /// names and the one to delete when the subscription stops.
    fn declare_source(&self, spec: &Subscribe) -> (Vec<String>, Option<String>) {
        let broker = &self.broker;
        broker.declare_exchange(&self.exchange, false);
        let mut queues = Vec::new();
        let mut exclusive = None;
        for queue in spec.source.queues() {
            broker.declare_queue(&queue.name);
            match queue.lifetime {
                Lifetime::Exclusive => exclusive = Some(queue.name.clone()),
                _ => broker.limit_queue(&queue.name, spec.max_length),
            }
            for route in &queue.bindings {
                match &route.exchange {
                    Exchange::Direct => continue,
                    Exchange::Fanout(name) => broker.declare_exchange(name, true),
                    Exchange::Control => {}
                }
                broker.bind(&queue.name, self.exchange(&route.exchange), &route.key);
            }
            queues.push(queue.name);
        }
        (queues, exclusive)
    }

    /// The connection's reply queue, declared on first use. Its replies
    /// go straight to their pending calls, with no task in between.
    fn reply_queue(&self) -> &str {
        self.reply_queue.get_or_init(|| {
            let name = topology::reply_queue();
            let events = self.events.clone();
            let take = ConsumerTx::Callback(Arc::new(move |reply| events.reply(reply)));
            self.broker.declare_queue(&name);
            self.broker.subscribe(&name, &take);
            name
        })
    }
}

impl Driver for MemoryDriver {
    fn publish<'a>(
        &'a self,
        to: &'a Destination,
        message: Message,
        _how: Publish,
    ) -> BoxFuture<'a, Result<Confirm, RpcError>> {
        Box::pin(async move {
            if self.closed.load(Ordering::Relaxed) {
                return Err(RpcError::Closed);
            }
            let route = to.route();
            self.broker
                .publish(self.exchange(&route.exchange), &route.key, message, true)?;
            Ok(Confirm::Done(Ok(())))
        })
    }

    fn subscribe(&self, spec: Subscribe) -> BoxFuture<'_, Result<Listener, RpcError>> {
        Box::pin(async move {
            let (queues, exclusive) = self.declare_source(&spec);
            let own = spec.source.own_queue();
            Ok(self.consume(&queues, exclusive, own))
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
            if self.closed.load(Ordering::Relaxed) {
                return Err(RpcError::Closed);
            }
            Ok(self.reply_queue().to_owned())
        })
    }

    fn ready_reply_address(&self) -> Option<String> {
        if self.closed.load(Ordering::Relaxed) {
            return None;
        }
        Some(self.reply_queue().to_owned())
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
            self.closed.store(true, Ordering::Relaxed);
            if let Some(queue) = self.reply_queue.get() {
                self.broker.delete_queue(queue);
            }
            // Its listeners' consumers go (their deliveries end), and its
            // exclusive queues with them.
            let held = std::mem::take(&mut *lock(&self.held));
            for held in held {
                held.let_go(Vec::new());
            }
        })
    }
}

impl MemoryDriver {
    /// Consumes `queues` straight into a listener's channel: the broker
    /// hands each message to the server with no task in between (it has
    /// no prefetch; the server's concurrency limit bounds what runs).
    /// `exclusive` is deleted when the listener ends, and `own` too if it
    /// is idle then.
    fn consume(
        &self,
        queues: &[String],
        exclusive: Option<String>,
        own: Option<String>,
    ) -> Listener {
        let (feed, listener) = Listener::channel();
        let tx = ConsumerTx::Listener(feed);
        let consumers: Vec<u64> = queues
            .iter()
            .map(|queue| self.broker.subscribe(queue, &tx))
            .collect();
        drop(tx);
        let first = consumers.first().copied();
        lock(&self.held).push(Held {
            broker: self.broker.clone(),
            consumers,
            exclusive_queue: exclusive,
            own_queue: own,
        });
        let held = Arc::clone(&self.held);
        listener.on_end(move |left| {
            let mut all = lock(&held);
            let Some(at) = all
                .iter()
                .position(|h| h.consumers.first().copied() == first)
            else {
                // The connection closed first and let go already.
                return;
            };
            let mine = all.swap_remove(at);
            drop(all);
            mine.let_go(left);
        })
    }
}

fn lock(held: &Mutex<Vec<Held>>) -> std::sync::MutexGuard<'_, Vec<Held>> {
    held.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
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

impl Held {
    /// Lets go of the subscription, like a closed AMQP channel: its
    /// consumers go, its exclusive queue is deleted, the deliveries it
    /// received and nobody took (`left`) go back to their queues.
    fn let_go(self, left: Vec<Delivery>) {
        let Held {
            broker,
            consumers,
            exclusive_queue,
            own_queue,
        } = self;
        broker.unsubscribe(&consumers);
        if let Some(queue) = &exclusive_queue {
            broker.delete_queue(queue);
        }
        for delivery in left {
            let queue = Arc::clone(&delivery.queue);
            if exclusive_queue.as_deref() != Some(&*queue) {
                let _ = broker.publish("", &queue, delivery.into_message(), false);
            }
        }
        if let Some(queue) = &own_queue {
            broker.delete_idle_queue(queue);
        }
    }
}
