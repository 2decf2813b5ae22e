//! A third transport, written against the public driver API alone: an
//! in-process "loopback" network of named queues, bindings and consumers,
//! under the same conformance suite as RabbitMQ and the in-memory broker.
//! Pending calls, correlation ids, the wire format, deadlines and
//! heartbeats come from `Transport`; the driver only moves messages.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use rpc_runtime::message::Message;
use rpc_runtime::transport::driver::{
    Acker, Confirm, Delivery, Driver, Listener, Publish, Source, Subscribe,
};
use rpc_runtime::wire::WireFormat;
use rpc_runtime::{BoxFuture, Destination, RpcError, Transport};
use rpc_tests::env::Network;
use tokio::sync::{mpsc, oneshot};

rpc_tests::conformance_suite!(rpc_tests::Kind::Custom(|| Arc::new(Net::default())));
rpc_tests::streaming_suite!(rpc_tests::Kind::Custom(|| Arc::new(Net::default())));

/// One network: its queues by name.
#[derive(Debug, Default, Clone)]
struct Net(Arc<Mutex<HashMap<String, Queue>>>);

/// Numbers reply and fanout queues apart.
static NEXT: AtomicU64 = AtomicU64::new(0);

#[derive(Debug, Default)]
struct Queue {
    /// What it is bound to: routing keys, or `fanout:<topic>`.
    keys: Vec<String>,
    waiting: VecDeque<Message>,
    consumers: Vec<mpsc::UnboundedSender<Delivery>>,
    max_length: Option<u32>,
    /// Deleted once its consumer is gone (a server's fanout queue).
    exclusive: bool,
}

impl Network for Net {
    /// A transport whose reply queue passes what it gets to its events.
    fn connect(&self, format: Arc<dyn WireFormat>) -> Transport {
        let net = self.clone();
        Transport::with_format(format, |events| {
            let reply = format!("reply_{}", NEXT.fetch_add(1, Ordering::Relaxed));
            net.declare(&reply, Vec::new(), None, false);
            let mut replies = net.listen(std::slice::from_ref(&reply), None);
            tokio::spawn(async move {
                while let Some(delivery) = replies.recv().await {
                    events.reply(delivery.into_message());
                }
            });
            Link { net, reply }
        })
    }
}

impl Net {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, Queue>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn declare(&self, name: &str, keys: Vec<String>, max_length: Option<u32>, exclusive: bool) {
        let queue = Queue {
            keys,
            max_length,
            exclusive,
            ..Queue::default()
        };
        self.lock().entry(name.to_owned()).or_insert(queue);
    }

    /// To every queue bound to `address`, or (`direct`) named so; false
    /// when none takes it.
    fn route(&self, address: &str, direct: bool, message: &Message) -> bool {
        let queues = &mut *self.lock();
        let mut taken = false;
        for (name, queue) in queues.iter_mut() {
            if (direct && name == address) || (!direct && queue.keys.iter().any(|k| k == address)) {
                taken |= deliver(name, queue, message.clone());
            }
        }
        queues.retain(|_, q| !q.exclusive || !q.consumers.is_empty());
        taken
    }

    /// Consumes `names`, handing over what waits there; once the listener
    /// is gone, removes `own` if nothing waits in it and nobody consumes it.
    fn listen(&self, names: &[String], own: Option<String>) -> Listener {
        let (inbox, deliveries) = mpsc::unbounded_channel();
        let queues = &mut *self.lock();
        for name in names {
            let queue = queues.entry(name.clone()).or_default();
            queue.consumers.push(inbox.clone());
            for message in std::mem::take(&mut queue.waiting) {
                deliver(name, queue, message);
            }
        }
        let (released, on_release) = oneshot::channel::<()>();
        let net = self.clone();
        tokio::spawn(async move {
            inbox.closed().await;
            let queues = &mut *net.lock();
            for queue in queues.values_mut() {
                queue.consumers.retain(|c| !c.is_closed());
            }
            if let Some(own) = own {
                queues.retain(|name, q| {
                    *name != own || !q.waiting.is_empty() || !q.consumers.is_empty()
                });
            }
            drop(released);
        });
        Listener::unbounded(deliveries).released_by(on_release)
    }
}

/// To the next live consumer, round robin, stamped with its arrival; else
/// it waits (the oldest dropped past the queue's maximum length), unless
/// the queue is exclusive (then false: its consumer is gone).
fn deliver(name: &str, queue: &mut Queue, mut message: Message) -> bool {
    message.received_at = Some(Instant::now());
    while let Some(consumer) = queue.consumers.first() {
        let delivery = Delivery::new(Arc::from(name), false, message, Acker::settled());
        match consumer.send(delivery) {
            Ok(()) => {
                queue.consumers.rotate_left(1);
                return true;
            }
            Err(mpsc::error::SendError(back)) => {
                queue.consumers.remove(0);
                message = back.into_message();
            }
        }
    }
    queue.waiting.push_back(message);
    while queue.waiting.len() > queue.max_length.map_or(usize::MAX, |m| m as usize) {
        queue.waiting.pop_front();
    }
    !queue.exclusive
}

/// One transport's connection to a network.
#[derive(Debug)]
struct Link {
    net: Net,
    reply: String,
}

impl Link {
    /// Declares `spec`'s queues (and a server's own fanout queue); returns them.
    fn declare(&self, spec: &Subscribe) -> Vec<String> {
        let mut queues = Vec::new();
        for (queue, keys) in spec.source.bindings() {
            self.net.declare(&queue, keys, spec.max_length, false);
            queues.push(queue);
        }
        if let Source::Server { topic, .. } = &spec.source {
            let own = format!("{topic}_fanout_{}", NEXT.fetch_add(1, Ordering::Relaxed));
            self.net
                .declare(&own, vec![format!("fanout:{topic}")], None, true);
            queues.push(own);
        }
        queues
    }
}

impl Driver for Link {
    fn publish<'a>(
        &'a self,
        to: &'a Destination,
        message: Message,
        _: Publish,
    ) -> BoxFuture<'a, Result<Confirm, RpcError>> {
        let (address, direct) = match to {
            Destination::Topic { topic } => (topic.clone(), false),
            Destination::Server { topic, server } => (format!("{topic}.{server}"), false),
            Destination::Fanout { topic } => (format!("fanout:{topic}"), false),
            Destination::RoutingKey { key } => (key.clone(), false),
            Destination::Queue { name } => (name.clone(), true),
        };
        let result = match self.net.route(&address, direct, &message) {
            true => Ok(Confirm::Done(Ok(()))),
            false => Err(RpcError::Undeliverable {
                exchange: String::new(),
                routing_key: address,
            }),
        };
        Box::pin(async move { result })
    }

    fn subscribe(&self, spec: Subscribe) -> BoxFuture<'_, Result<Listener, RpcError>> {
        let listener = self
            .net
            .listen(&self.declare(&spec), spec.source.own_queue());
        Box::pin(async move { Ok(listener) })
    }

    fn declare(&self, spec: Subscribe) -> BoxFuture<'_, Result<(), RpcError>> {
        Link::declare(self, &spec);
        Box::pin(async { Ok(()) })
    }

    fn reply_address(&self, _: Publish) -> BoxFuture<'_, Result<String, RpcError>> {
        let reply = self.reply.clone();
        Box::pin(async move { Ok(reply) })
    }

    fn close(&self) -> BoxFuture<'_, ()> {
        self.net.lock().remove(&self.reply);
        Box::pin(async {})
    }
}
