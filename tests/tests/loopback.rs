//! A third transport on the public driver API alone, under the conformance
//! suite: the runtime gives it every queue and binding (`Source::queues`)
//! and each message's route (`Destination::route`); it only moves messages.

use std::collections::{HashMap, VecDeque};
use std::future::ready;
use std::sync::{Arc, Mutex, MutexGuard};

use rpc_runtime::message::Message;
use rpc_runtime::topology::{Lifetime, QueueSpec, Route};
use rpc_runtime::transport::driver::{
    Acker, Confirm, Delivery, Driver, Feed, Listener, Publish, Subscribe,
};
use rpc_runtime::wire::WireFormat;
use rpc_runtime::{BoxFuture, Destination, RpcError, Transport};
use rpc_tests::env::Network;

rpc_tests::conformance_suite!(rpc_tests::Kind::Custom(|| Arc::new(Net::default())));
rpc_tests::streaming_suite!(rpc_tests::Kind::Custom(|| Arc::new(Net::default())));

/// One network: its queues by name.
#[derive(Debug, Default, Clone)]
struct Net(Arc<Mutex<HashMap<String, Queue>>>);

#[derive(Debug, Default)]
struct Queue {
    bindings: Vec<Route>,
    waiting: VecDeque<Message>,
    consumers: Vec<Feed>,
    max_length: Option<u32>,
}

impl Network for Net {
    fn connect(&self, format: Arc<dyn WireFormat>) -> Transport {
        let net = self.clone();
        Transport::with_format(format, |events| {
            let (spec, feed) = (QueueSpec::reply(), Feed::replies(events));
            net.declare(std::slice::from_ref(&spec), None, Some(&feed));
            let reply = spec.name;
            Link { net, reply }
        })
    }
}

impl Net {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, Queue>> {
        self.0.lock().expect("not poisoned")
    }

    /// Declares `specs`' queues; with a `consumer`, consumes them too,
    /// handing over what waits there.
    fn declare(&self, specs: &[QueueSpec], max_length: Option<u32>, consumer: Option<&Feed>) {
        let queues = &mut *self.lock();
        for spec in specs {
            let queue = queues.entry(spec.name.clone()).or_insert(Queue {
                bindings: spec.bindings.clone(),
                max_length,
                ..Queue::default()
            });
            if let Some(feed) = consumer {
                queue.consumers.push(feed.clone());
                for message in std::mem::take(&mut queue.waiting) {
                    deliver(&spec.name, queue, message);
                }
            }
        }
    }

    /// Consumes `specs`' queues; once the listener is gone, removes the
    /// exclusive ones, and the subscriber's own if nothing waits in it.
    fn listen(&self, specs: Vec<QueueSpec>, max_length: Option<u32>) -> Listener {
        let (feed, listener) = Listener::channel();
        self.declare(&specs, max_length, Some(&feed));
        let net = self.clone();
        listener.on_end(move |_| {
            net.lock().retain(|name, queue| {
                queue.consumers.retain(|c| !c.is_closed());
                let idle = queue.consumers.is_empty() && queue.waiting.is_empty();
                let lifetime = specs.iter().find(|s| s.name == *name).map(|s| s.lifetime);
                lifetime != Some(Lifetime::Exclusive) && (lifetime != Some(Lifetime::Own) || !idle)
            })
        })
    }
}

/// To the next live consumer, round robin, stamped with its arrival; else
/// it waits (the oldest dropped past the queue's maximum length).
fn deliver(name: &str, queue: &mut Queue, mut message: Message) {
    message.received_at = Some(std::time::Instant::now());
    while let Some(consumer) = queue.consumers.first() {
        let delivery = Delivery::new(Arc::from(name), false, message, Acker::settled());
        match consumer.send(delivery) {
            Ok(()) => return queue.consumers.rotate_left(1),
            Err(back) => {
                queue.consumers.remove(0);
                message = back.into_message();
            }
        }
    }
    queue.waiting.push_back(message);
    while queue.waiting.len() > queue.max_length.map_or(usize::MAX, |m| m as usize) {
        queue.waiting.pop_front();
    }
}

/// One transport's connection to a network.
#[derive(Debug)]
struct Link {
    net: Net,
    reply: String,
}

impl Driver for Link {
    fn publish<'a>(
        &'a self,
        to: &'a Destination,
        message: Message,
        _: Publish,
    ) -> BoxFuture<'a, Result<Confirm, RpcError>> {
        let (route, mut taken) = (to.route(), false);
        for (name, queue) in self.net.lock().iter_mut() {
            if route.reaches(name, &queue.bindings) {
                taken = true;
                deliver(name, queue, message.clone());
            }
        }
        let destination = to.to_string();
        Box::pin(ready(match taken {
            true => Ok(Confirm::Done(Ok(()))),
            false => Err(RpcError::Undeliverable { destination }),
        }))
    }

    fn subscribe(&self, spec: Subscribe) -> BoxFuture<'_, Result<Listener, RpcError>> {
        let listener = self.net.listen(spec.source.queues(), spec.max_length);
        Box::pin(ready(Ok(listener)))
    }

    fn declare(&self, spec: Subscribe) -> BoxFuture<'_, Result<(), RpcError>> {
        self.net
            .declare(&spec.source.queues(), spec.max_length, None);
        Box::pin(ready(Ok(())))
    }

    fn reply_address(&self, _: Publish) -> BoxFuture<'_, Result<String, RpcError>> {
        Box::pin(ready(Ok(self.reply.clone())))
    }
}
