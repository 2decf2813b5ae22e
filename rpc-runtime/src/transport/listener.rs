//! [`Listener`]: a running subscription's deliveries, in arrival order,
//! whether the driver hands them to its [`Feed`] or the listener polls them
//! where the driver's client library left them ([`Incoming`]). While
//! its reader waits for room to run what arrives, the listener holds the
//! arrivals (stamped when they reached the process) and acks those the
//! broker would take back ([`Listener::settle_due`]).

use std::fmt;

use std::time::Instant;

use tokio::sync::{mpsc, oneshot};

use super::delivery::Delivery;
use super::events::Events;

/// A running subscription: its deliveries, in arrival order.
pub struct Listener {
    deliveries: Deliveries,
    /// Run when the listener goes: it stops the driver's receiving.
    stop: Option<Box<dyn FnOnce() + Send>>,
    /// Ends once the driver let go of the subscription (see
    /// [`Listener::with_release`]).
    released: Option<oneshot::Receiver<()>>,
    /// Run when the listener ends (see [`Listener::on_end`]).
    on_end: Option<OnEnd>,
}

/// What a listener runs when it ends, with the deliveries it received and
/// nobody took.
type OnEnd = Box<dyn FnOnce(Vec<Delivery>) + Send>;

impl fmt::Debug for Listener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Listener")
            .field("deliveries", &self.deliveries)
            .finish_non_exhaustive()
    }
}

enum Deliveries {
    Fed(mpsc::UnboundedReceiver<Delivery>),
    Polled(Polled),
}

/// A driver's [`Incoming`], and what the listener took from it ahead of
/// its reader (see [`Listener::hold_arrivals`]).
struct Polled {
    incoming: Box<dyn Incoming>,
    held: std::collections::VecDeque<Delivery>,
}

impl fmt::Debug for Deliveries {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Fed(deliveries) => deliveries.fmt(f),
            Self::Polled(polled) => f
                .debug_struct("Polled")
                .field("held", &polled.held.len())
                .finish_non_exhaustive(),
        }
    }
}

/// Deliveries a driver produces as its [`Listener`] polls for them, rather
/// than sends through a channel: the reader takes each message where the
/// driver's client library left it, one task hop fewer per message.
pub trait Incoming: Send + 'static {
    /// The next delivery, `Pending` (with `cx` woken later) while none is
    /// there, `None` once the subscription ended (and on every poll after).
    fn poll_next(&mut self, cx: &mut std::task::Context<'_>) -> std::task::Poll<Option<Delivery>>;
}

/// Where a driver hands its deliveries: a [`Listener`]'s (see
/// [`Listener::channel`]), or a transport's waiting calls
/// ([`Feed::replies`]). Cheap to clone.
#[derive(Debug, Clone)]
pub struct Feed(Fed);

#[derive(Debug, Clone)]
enum Fed {
    Listener(mpsc::UnboundedSender<Delivery>),
    Replies(Events),
}

impl Feed {
    /// The feed of a transport's reply queue: what it is handed goes to
    /// the transport's waiting calls ([`Events::reply`]), with no listener
    /// in between. It never closes.
    pub fn replies(events: Events) -> Self {
        Self(Fed::Replies(events))
    }

    /// Hands `delivery` over; gives it back when the listener is gone.
    #[allow(clippy::result_large_err)] // the caller's own delivery, not a copy
    pub fn send(&self, delivery: Delivery) -> Result<(), Delivery> {
        match &self.0 {
            Fed::Listener(listener) => listener.send(delivery).map_err(|back| back.0),
            Fed::Replies(events) => {
                events.reply(delivery.into_message());
                Ok(())
            }
        }
    }

    /// Whether the listener is gone.
    pub fn is_closed(&self) -> bool {
        match &self.0 {
            Fed::Listener(listener) => listener.is_closed(),
            Fed::Replies(_) => false,
        }
    }

    /// Resolves once the listener is gone.
    pub async fn closed(&self) {
        match &self.0 {
            Fed::Listener(listener) => listener.closed().await,
            Fed::Replies(_) => std::future::pending().await,
        }
    }
}

/// Dropped by a driver once it let go of a subscription (closed its
/// channel, removed the queue only it used); see [`Listener::with_release`].
#[derive(Debug)]
pub struct Release(#[allow(dead_code)] oneshot::Sender<()>);

impl Listener {
    /// A listener and the feed its driver hands deliveries to, in arrival
    /// order. The driver cannot be held back by it (the receiver's
    /// concurrency limit still bounds what runs); dropping the listener
    /// closes the feed, and the driver learns it there.
    pub fn channel() -> (Feed, Self) {
        let (feed, deliveries) = mpsc::unbounded_channel();
        let listener = Self {
            deliveries: Deliveries::Fed(deliveries),
            stop: None,
            released: None,
            on_end: None,
        };
        (Feed(Fed::Listener(feed)), listener)
    }

    /// A listener polling `incoming` for its deliveries; dropping it runs
    /// `stop` (before `incoming` drops), which should end what feeds them.
    pub fn polling(incoming: impl Incoming, stop: impl FnOnce() + Send + 'static) -> Self {
        Self {
            deliveries: Deliveries::Polled(Polled {
                incoming: Box::new(incoming),
                held: std::collections::VecDeque::new(),
            }),
            stop: Some(Box::new(stop)),
            released: None,
            on_end: None,
        }
    }

    /// Lets [`Listener::close`] wait for the driver: the driver drops the
    /// returned [`Release`] once it has let go of the subscription.
    #[must_use]
    pub fn with_release(mut self) -> (Self, Release) {
        let (release, released) = oneshot::channel();
        self.released = Some(released);
        (self, Release(release))
    }

    /// Stops receiving, and waits until the driver let go of the
    /// subscription (at once unless the driver said it would tell).
    pub async fn close(mut self) {
        if let Some(stop) = self.stop.take() {
            stop();
        }
        let released = self.released.take();
        drop(self);
        if let Some(released) = released {
            let _ = released.await;
        }
    }

    /// Runs `end` when the listener ends (dropped or closed), with what it
    /// received and nobody took: a driver that delivers straight into the
    /// listener's channel gives those back to their queues there. The
    /// channel is closed first, so nothing more arrives.
    #[must_use]
    pub fn on_end(mut self, end: impl FnOnce(Vec<Delivery>) + Send + 'static) -> Self {
        self.on_end = Some(Box::new(end));
        self
    }

    /// The next delivery; `None` once the subscription ended.
    pub async fn recv(&mut self) -> Option<Delivery> {
        match &mut self.deliveries {
            Deliveries::Fed(deliveries) => deliveries.recv().await,
            Deliveries::Polled(polled) => match polled.held.pop_front() {
                Some(delivery) => Some(delivery),
                None => std::future::poll_fn(|cx| polled.incoming.poll_next(cx)).await,
            },
        }
    }

    /// Takes what arrives while the reader cannot take it yet (it waits
    /// for room to run it), so that each delivery is stamped received when
    /// it reached the process, not when it was taken: a request's relative
    /// deadline counts from there. Returns once a delivery held is due to be
    /// settled (see [`Listener::settle_due`]), else never; [`Listener::recv`]
    /// returns what was held first. (A channel's deliveries are stamped as
    /// they are sent: nothing to do for those.)
    pub(crate) async fn hold_arrivals(&mut self) {
        if let Deliveries::Polled(polled) = &mut self.deliveries {
            loop {
                let due = polled.held.iter().filter_map(|d| d.settle_by).min();
                let due = futures_util::future::OptionFuture::from(
                    due.map(|at| tokio::time::sleep_until(at.into())),
                );
                tokio::select! {
                    next = std::future::poll_fn(|cx| polled.incoming.poll_next(cx)) => match next {
                        Some(delivery) => polled.held.push_back(delivery),
                        None => break,
                    },
                    Some(()) = due => return,
                }
            }
        }
        std::future::pending::<()>().await;
    }

    /// Acks the deliveries held that are due to be settled (the broker
    /// would take them back and deliver them again: RabbitMQ's
    /// `consumer_timeout`); they are then the reader's, and wait on. Logs
    /// as `what`.
    pub(crate) async fn settle_due(&mut self, what: &str) {
        let Deliveries::Polled(polled) = &mut self.deliveries else {
            return;
        };
        let now = Instant::now();
        for delivery in polled.held.iter_mut() {
            if delivery.settle_by.is_some_and(|due| due <= now) {
                delivery.settle_by = None;
                match delivery.acker.ack_now().await {
                    Ok(()) => {
                        tracing::warn!(what, queue = %delivery.queue, "every slot has been busy for most of the broker's consumer_timeout: acked a delivery still waiting, so that the broker does not take it back (it now runs at most once)")
                    }
                    Err(error) => {
                        tracing::debug!(what, %error, "could not ack a delivery waiting for a slot")
                    }
                }
            }
        }
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        // The driver learns it should stop before its deliveries go, so that
        // it cannot take their end for a lost subscription.
        if let Some(stop) = self.stop.take() {
            stop();
        }
        let Some(end) = self.on_end.take() else {
            return;
        };
        let mut left = Vec::new();
        match &mut self.deliveries {
            Deliveries::Fed(deliveries) => {
                deliveries.close();
                while let Ok(delivery) = deliveries.try_recv() {
                    left.push(delivery);
                }
            }
            Deliveries::Polled(polled) => left.extend(polled.held.drain(..)),
        }
        end(left);
    }
}
