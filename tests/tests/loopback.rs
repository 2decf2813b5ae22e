//! A third transport on the public driver API alone, under the conformance
//! suite: the runtime gives it every queue and binding (`Source::queues`)
//! and each message's route (`Destination::route`); it only moves messages.

use std::collections::{HashMap, VecDeque};
use std::future::ready;
use std::sync::{Arc, Mutex, MutexGuard};

use rpc_runtime::message::Message;
use rpc_runtime::topology::{self, Lifetime, QueueSpec, Route};
use rpc_runtime::transport::driver::{
    Acker, Confirm, Delivery, Driver, Events, Feed, Listener, Publish, Subscribe,
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
    /// A reply queue's transport: what arrives goes to its calls.
    replies: Option<Events>,
}

impl Network for Net {
    fn connect(&self, format: Arc<dyn WireFormat>) -> Transport {
        let net = self.clone();
        Transport::with_format(format, |events| {
            let reply = topology::reply_queue();
            let queue = Queue {
                replies: Some(events),
                ..Queue::default()
            };
            net.lock().insert(reply.clone(), queue);
            Link { net, reply }
        })
    }
}

impl Net {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, Queue>> {
        self.0.lock().expect("not poisoned")
    }

    fn declare(&self, queues: &[QueueSpec], max_length: Option<u32>) {
        for spec in queues {
            self.lock().entry(spec.name.clone()).or_insert(Queue {
                bindings: spec.bindings.clone(),
                max_length,
                ..Queue::default()
            });
        }
    }

    /// Declares and consumes `specs`' queues, handing over what waits
    /// there; once the listener is gone, removes the exclusive ones, and the
    /// subscriber's own if nothing waits in it.
    fn listen(&self, specs: Vec<QueueSpec>, max_length: Option<u32>) -> Listener {
        let (feed, listener) = Listener::channel();
        self.declare(&specs, max_length);
        for spec in &specs {
            let queues = &mut *self.lock();
            let queue = queues.get_mut(&spec.name).expect("declared");
            queue.consumers.push(feed.clone());
            for message in std::mem::take(&mut queue.waiting) {
                deliver(&spec.name, queue, message);
            }
        }
        let net = self.clone();
        listener.on_end(move |_| {
            net.lock().retain(|name, queue| {
                queue.consumers.retain(|c| !c.is_closed());
                let idle = queue.consumers.is_empty() && queue.waiting.is_empty();
                match specs.iter().find(|spec| spec.name == *name) {
                    Some(spec) if spec.lifetime == Lifetime::Exclusive => false,
                    Some(spec) if spec.lifetime == Lifetime::Own => !idle,
                    _ => true,
                }
            })
        })
    }
}

/// To the next live consumer, round robin, stamped with its arrival; else
/// it waits (the oldest dropped past the queue's maximum length).
fn deliver(name: &str, queue: &mut Queue, mut message: Message) {
    if let Some(events) = &queue.replies {
        return events.reply(message);
    }
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
        Box::pin(ready(match taken {
            true => Ok(Confirm::Done(Ok(()))),
            false => Err(RpcError::Undeliverable {
                destination: to.to_string(),
            }),
        }))
    }

    fn subscribe(&self, spec: Subscribe) -> BoxFuture<'_, Result<Listener, RpcError>> {
        let listener = self.net.listen(spec.source.queues(), spec.max_length);
        Box::pin(ready(Ok(listener)))
    }

    fn declare(&self, spec: Subscribe) -> BoxFuture<'_, Result<(), RpcError>> {
        self.net.declare(&spec.source.queues(), spec.max_length);
        Box::pin(ready(Ok(())))
    }

    fn reply_address(&self, _: Publish) -> BoxFuture<'_, Result<String, RpcError>> {
        Box::pin(ready(Ok(self.reply.clone())))
    }
}
