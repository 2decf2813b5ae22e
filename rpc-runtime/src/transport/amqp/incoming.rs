//! A subscription's deliveries as its listener reads them: straight from
//! the channels amqprs's dispatcher fills, one per consumed queue, with no
//! task of ours in between (a consumer task would cost a hop and a
//! wake-up of another thread per message). The messages the subscription
//! drained before consuming ([`super::drain`]) come first; each new
//! session's consumers arrive as a new feed.
//!
//! The channel is shared with other subscriptions and outlives this one,
//! so nothing of this subscription's may stay unacked on it: a delivery
//! dropped unsettled, and what amqprs still holds for a queue whose
//! listener went, go back to their queue (`basic.nack` with requeue; from
//! a stream, which keeps them anyway, acked).

use std::sync::Arc;
use std::task::{Context, Poll};

use amqprs::channel::ConsumerMessage;
use tokio::sync::mpsc;

use super::limits::Limits;
use super::props::from_delivery;
use super::shield::Chan;
use crate::transport::driver::{Acker, Delivery, Incoming, Liveness};

/// One consumed queue: what amqprs delivers from it, on the channel that
/// acks it.
pub(super) struct Fed {
    queue: Arc<str>,
    channel: Chan,
    deliveries: mpsc::UnboundedReceiver<ConsumerMessage>,
    /// Dropped once these deliveries end: the consumer watches for it.
    _alive: mpsc::UnboundedSender<()>,
    /// When each delivery must be settled by.
    limits: Arc<Limits>,
    /// Whether the channel still takes acks.
    live: Liveness,
    /// Whether the queue is a stream.
    stream: bool,
}

impl Fed {
    pub(super) fn new(
        queue: Arc<str>,
        channel: Chan,
        deliveries: mpsc::UnboundedReceiver<ConsumerMessage>,
        alive: mpsc::UnboundedSender<()>,
        limits: Arc<Limits>,
        stream: bool,
    ) -> Self {
        let open = channel.clone();
        Self {
            stream,
            queue,
            channel,
            deliveries,
            _alive: alive,
            limits,
            live: Arc::new(move || open.is_open()),
        }
    }

    fn delivery(&self, message: ConsumerMessage) -> Option<Delivery> {
        let (deliver, properties, body) = (
            message.deliver?,
            message.basic_properties?,
            message.content?,
        );
        // Acks on the channel it came on; dropped unsettled, gives it back.
        let tag = deliver.delivery_tag();
        let mut unsettled = Unsettled(Some((self.channel.clone(), tag)), self.stream);
        let ack = async move {
            match unsettled.0.take() {
                Some((channel, tag)) => channel.ack(tag).await,
                None => Ok(()),
            }
        };
        let acker = Acker::new(ack).while_live(Arc::clone(&self.live));
        let settle_by = std::time::Instant::now() + self.limits.settle_within();
        let delivery = Delivery::new(
            Arc::clone(&self.queue),
            deliver.redelivered(),
            from_delivery(&properties, body),
            acker,
        );
        Some(delivery.settle_by(settle_by))
    }
}

impl Drop for Fed {
    /// Gives back what amqprs holds for the queue, and what it still gets
    /// until the broker confirms the consumer's cancel (the receiver ends
    /// then), within [`HAND_BACK`].
    fn drop(&mut self) {
        if !self.channel.is_open() {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let (_, none) = mpsc::unbounded_channel();
        let mut deliveries = std::mem::replace(&mut self.deliveries, none);
        let (channel, alive, stream) = (self.channel.clone(), self._alive.clone(), self.stream);
        runtime.spawn(async move {
            let give_back = async {
                while let Some(message) = deliveries.recv().await {
                    if let Some(deliver) = message.deliver {
                        channel.let_go(deliver.delivery_tag(), stream);
                    }
                }
            };
            let _ = tokio::time::timeout(HAND_BACK, give_back).await;
            drop(alive);
        });
    }
}

/// How long a dropped queue's deliveries are given back for.
const HAND_BACK: std::time::Duration = std::time::Duration::from_secs(5);

/// A delivery's place on its channel until it is acked; dropped before,
/// it lets go of the delivery (see [`Chan::let_go`]; `.1`: from a stream).
struct Unsettled(Option<(Chan, u64)>, bool);

impl Drop for Unsettled {
    fn drop(&mut self) {
        if let Some((channel, tag)) = self.0.take() {
            channel.let_go(tag, self.1);
        }
    }
}

/// Where a subscription's deliveries come from, for its listener.
pub(super) struct Feeds {
    /// Messages drained before consuming, already settled; `None` once the
    /// subscription ended.
    drained: Option<mpsc::Receiver<Delivery>>,
    /// The consumed queues of each new consumer; `None` once the
    /// subscription ended.
    feeds: Option<mpsc::UnboundedReceiver<Vec<Fed>>>,
    /// The queues being read (an ended one is dropped).
    queues: Vec<Fed>,
    /// The queue to look at first next time, so that none starves.
    next: usize,
}

/// The subscription's side of [`Feeds`].
#[derive(Clone)]
pub(super) struct Outlet {
    pub(super) drained: mpsc::Sender<Delivery>,
    pub(super) feeds: mpsc::UnboundedSender<Vec<Fed>>,
}

impl Feeds {
    /// A reader and its outlet; at most `prefetch` drained messages wait.
    pub(super) fn new(prefetch: u16) -> (Self, Outlet) {
        let (drained_tx, drained) = mpsc::channel(usize::from(prefetch).max(1));
        let (feeds_tx, feeds) = mpsc::unbounded_channel();
        let reader = Self {
            drained: Some(drained),
            feeds: Some(feeds),
            queues: Vec::new(),
            next: 0,
        };
        let outlet = Outlet {
            drained: drained_tx,
            feeds: feeds_tx,
        };
        (reader, outlet)
    }
}

impl Incoming for Feeds {
    fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<Delivery>> {
        if let Some(drained) = &mut self.drained {
            match drained.poll_recv(cx) {
                Poll::Ready(Some(delivery)) => return Poll::Ready(Some(delivery)),
                Poll::Ready(None) => self.drained = None,
                Poll::Pending => {}
            }
        }
        while let Some(feeds) = &mut self.feeds {
            match feeds.poll_recv(cx) {
                Poll::Ready(Some(fed)) => self.queues.extend(fed),
                Poll::Ready(None) => self.feeds = None,
                Poll::Pending => break,
            }
        }
        let mut looked = 0;
        while looked < self.queues.len() {
            let at = (self.next + looked) % self.queues.len();
            match self.queues[at].deliveries.poll_recv(cx) {
                Poll::Ready(Some(message)) => {
                    if let Some(delivery) = self.queues[at].delivery(message) {
                        self.next = at + 1;
                        return Poll::Ready(Some(delivery));
                    }
                }
                // The channel or the connection is gone.
                Poll::Ready(None) => {
                    self.queues.remove(at);
                }
                Poll::Pending => looked += 1,
            }
        }
        if self.drained.is_none() && self.feeds.is_none() && self.queues.is_empty() {
            Poll::Ready(None)
        } else {
            Poll::Pending
        }
    }
}
