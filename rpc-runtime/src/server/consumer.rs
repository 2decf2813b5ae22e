//! One service served on one topic: the loop that takes deliveries
//! (bounded by the server's permits), acks them as the [`AckMode`] says,
//! and runs each with the [`Handler`]: on the loop itself while it needs no
//! waiting, in a task of its own from its first wait on.

use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;

use futures_util::FutureExt;
use futures_util::future::{CatchUnwind, OptionFuture};

use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use super::dispatch::Handler;
use crate::transport::DEFAULT_TIMEOUT;
use crate::transport::Destination;
use crate::transport::driver::{Delivery, Listener};

/// When a server acks what it takes from its queues.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AckMode {
    /// Everything is acked when taken, before it runs: at-most-once, as
    /// oslo.messaging does. A crash loses the requests being handled.
    #[default]
    OnReceipt,
    /// Casts are acked after their handler returned: at-least-once (a crash
    /// gets them redelivered, perhaps to another server). A cast redelivered
    /// more than `max_redeliveries` times is dropped with an error log.
    /// Calls are still acked on receipt: their caller stops waiting anyway.
    AfterHandling {
        /// How often a cast may come back before it is dropped.
        max_redeliveries: u32,
    },
}

/// One service being served on one topic.
#[derive(Clone)]
pub(super) struct Serving {
    handler: Arc<Handler>,
    acks: AckMode,
    /// Unique ids of the requests taken lately, to drop redelivered copies.
    seen: Arc<RecentIds>,
    /// Unique ids of after-handling casts not run because their channel
    /// closed first: when the broker delivers them again, that is no sign
    /// of a poison message.
    given_back: Arc<RecentIds>,
}

/// The last [`RecentIds::CAPACITY`] message ids a server took (oslo keeps
/// 16), by a 64-bit hash: a request whose ack was lost, or that the broker
/// took back (a channel closed under it, its `consumer_timeout`) and
/// delivers again, is dropped instead of run twice.
#[derive(Debug, Default)]
pub(crate) struct RecentIds(std::sync::Mutex<Recent>);

#[derive(Debug, Default)]
struct Recent {
    order: std::collections::VecDeque<u64>,
    ids: std::collections::HashSet<u64>,
    hasher: std::hash::RandomState,
}

impl RecentIds {
    const CAPACITY: usize = 1024;

    /// Records `id`; false if it was seen already.
    fn first_time(&self, id: &str) -> bool {
        let mut recent = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let hash = std::hash::BuildHasher::hash_one(&recent.hasher, id);
        if !recent.ids.insert(hash) {
            return false;
        }
        if recent.order.len() == Self::CAPACITY {
            if let Some(oldest) = recent.order.pop_front() {
                recent.ids.remove(&oldest);
            }
        }
        recent.order.push_back(hash);
        true
    }

    /// Whether `id` is among those recorded (without recording it).
    fn contains(&self, id: &str) -> bool {
        let recent = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let hash = std::hash::BuildHasher::hash_one(&recent.hasher, id);
        recent.ids.contains(&hash)
    }
}

/// Runs requests on the serving loop until they first wait, and spawns only
/// those that do: most requests (a manager that answers without waiting,
/// the reply handed to the transport) finish in that first poll, and then
/// cost neither a task nor a wake-up of another worker thread. A panic in
/// that poll is caught and logged, as a spawned task's would be, and the
/// loop serves on.
///
/// The request is polled in one allocation kept from request to request;
/// one that waits takes it into its task, and the next gets a new one.
struct InPlace<F: Future> {
    slot: Option<Pin<Box<Slot<F>>>>,
}

type Slot<F> = OptionFuture<CatchUnwind<AssertUnwindSafe<F>>>;

impl<F: Future<Output = ()> + Send + 'static> InPlace<F> {
    fn new() -> Self {
        Self { slot: None }
    }

    async fn run(&mut self, request: F) {
        let request = Some(AssertUnwindSafe(request).catch_unwind()).into();
        let slot = match &mut self.slot {
            Some(slot) => {
                slot.set(request);
                slot
            }
            None => self.slot.insert(Box::pin(request)),
        };
        let first = std::future::poll_fn(|cx| Poll::Ready(slot.as_mut().poll(cx))).await;
        match first {
            Poll::Ready(done) => {
                // What the finished request still holds goes now.
                slot.set(None.into());
                if let Some(Err(_)) = done {
                    tracing::error!("serving a request panicked outside the manager");
                }
            }
            Poll::Pending => {
                if let Some(waiting) = self.slot.take() {
                    tokio::spawn(waiting);
                }
            }
        }
    }
}

/// Runs an after-handling cast's handler, then acks it; if the handler is
/// still running when the broker would take the delivery back
/// (`settle_by`, three quarters of its `consumer_timeout`), acks it then,
/// with a warning: the broker would deliver it again otherwise.
async fn settle_after(
    handled: impl Future<Output = ()>,
    mut acker: crate::transport::driver::Acker,
    settle_by: Option<std::time::Instant>,
    topic: &str,
) {
    let early = async {
        match settle_by {
            Some(due) => tokio::time::sleep_until(due.into()).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(handled);
    tokio::select! {
        () = &mut handled => {}
        () = early => {
            tracing::warn!(topic, "a cast's handler runs longer than the broker's consumer_timeout allows; acked it before it finished (if this process dies now, the cast is lost)");
            if let Err(error) = acker.ack_now().await {
                tracing::warn!(topic, %error, "could not ack a cast still running; the broker will deliver it again");
            }
            handled.await;
        }
    }
    if let Err(error) = acker.ack().await {
        tracing::warn!(topic, %error, "could not ack a handled cast; it will be redelivered");
    }
}

/// The header counting how often a cast was redelivered after a crash.
const REDELIVERIES: &str = "x-redeliveries";

impl Serving {
    pub(super) fn new(handler: Arc<Handler>, acks: AckMode) -> Self {
        Self {
            handler,
            acks,
            seen: Arc::default(),
            given_back: Arc::default(),
        }
    }

    /// Serves until `stop`; returns the listener so that the server can
    /// keep its channel open (for acks) until the requests in flight end.
    pub(super) async fn run(
        self,
        mut listener: Listener,
        permits: Arc<Semaphore>,
        stop: CancellationToken,
    ) -> Listener {
        let handler = &self.handler;
        let topic = &*handler.topic;
        let (mut casts, mut requests) = (InPlace::new(), InPlace::new());
        while let Some((permit, delivery)) = handler
            .transport
            .next_delivery(&mut listener, &permits, &stop, topic)
            .await
        {
            let is_cast = delivery.message.reply_to.is_none();
            match self.acks {
                AckMode::AfterHandling { max_redeliveries } if is_cast => {
                    let Some(delivery) = self.take_cast(delivery, max_redeliveries).await else {
                        continue;
                    };
                    let Delivery {
                        message,
                        acker,
                        settle_by,
                        ..
                    } = delivery;
                    let topic = Arc::clone(&handler.topic);
                    let handled = handler.handle(message);
                    let request = async move {
                        settle_after(handled, acker, settle_by, &topic).await;
                        drop(permit);
                    };
                    casts.run(request).await;
                }
                _ => {
                    // Acked when taken, before running (oslo's at-most-once);
                    // acked here, in order, so a stop cannot overtake the ack.
                    let Delivery { message, acker, .. } = delivery;
                    if let Err(error) = acker.ack().await {
                        tracing::warn!(%topic, %error, "could not ack a request; not running it");
                        continue;
                    }
                    let wire = handler.transport.wire();
                    if let Some(id) = wire.unique_id(&message) {
                        if !self.seen.first_time(id) {
                            tracing::warn!(%topic, unique_id = id, "dropped a request delivered twice");
                            crate::telemetry::dropped("duplicate");
                            continue;
                        }
                    }
                    let request = handler.handle(message).map(move |()| drop(permit));
                    requests.run(request).await;
                }
            }
        }
        listener
    }

    /// An after-handling cast to run, if it is one: not a copy whose
    /// channel closed before it could run (the broker delivers it again),
    /// nor a copy of one taken already (the broker took it back while it
    /// ran: it is acked and dropped), nor one redelivered too often.
    async fn take_cast(&self, delivery: Delivery, max_redeliveries: u32) -> Option<Delivery> {
        let topic = &*self.handler.topic;
        let wire = self.handler.transport.wire();
        let id = wire.unique_id(&delivery.message).map(str::to_owned);
        if !delivery.acker.is_live() {
            if let Some(id) = &id {
                self.given_back.first_time(id);
            }
            tracing::debug!(
                topic,
                "a cast whose channel closed before it ran goes back to its queue"
            );
            return None;
        }
        if let Some(id) = &id {
            if self.seen.contains(id) {
                tracing::warn!(topic, unique_id = %id, "dropped a cast delivered again while or after it ran here (the broker took it back, e.g. past its consumer_timeout)");
                crate::telemetry::dropped("duplicate");
                if let Err(error) = delivery.acker.ack().await {
                    tracing::debug!(topic, %error, "could not ack a duplicate cast");
                }
                return None;
            }
        }
        let given_back = id.as_deref().is_some_and(|id| self.given_back.contains(id));
        let delivery = if given_back {
            delivery
        } else {
            self.bound_redeliveries(delivery, max_redeliveries).await?
        };
        if let Some(id) = &id {
            self.seen.first_time(id);
        }
        Some(delivery)
    }

    /// A cast the broker redelivers (its handler did not finish, e.g. the
    /// process died) goes back to its queue with a count; past
    /// `max_redeliveries` it is dropped with an error log instead of looping
    /// forever. Returns the delivery to run now, if any.
    async fn bound_redeliveries(
        &self,
        delivery: Delivery,
        max_redeliveries: u32,
    ) -> Option<Delivery> {
        if !delivery.redelivered {
            return Some(delivery);
        }
        let Delivery {
            queue,
            message,
            acker,
            ..
        } = delivery;
        let topic = &self.handler.topic;
        let transport = &self.handler.transport;
        let count = crate::transport::times_back(&message, REDELIVERIES) + 1;
        crate::telemetry::redelivered();
        if count > max_redeliveries {
            tracing::error!(%topic, %queue, count, "dropping a cast redelivered too often (a poison message?)");
            crate::telemetry::dropped("redelivered_too_often");
        } else {
            let destination = Destination::Queue {
                name: queue.to_string(),
            };
            let sent = transport
                .send_back(destination, message, REDELIVERIES, count, DEFAULT_TIMEOUT)
                .await;
            if let Err(error) = sent {
                tracing::warn!(%topic, %error, "could not requeue a redelivered cast; the broker will redeliver it");
                return None;
            }
        }
        if let Err(error) = acker.ack().await {
            tracing::warn!(%topic, %error, "could not ack a redelivered cast");
        }
        None
    }
}
