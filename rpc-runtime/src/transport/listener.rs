//! [`Listener`]: a running subscription's deliveries, in arrival order,
//! whether the driver sends them through a channel or the listener polls
//! them where the driver's client library left them ([`Incoming`]). While
//! its reader waits for room to run what arrives, the listener holds the
//! arrivals (stamped when they reached the process) and acks those the
//! broker would take back ([`Listener::settle_due`]).

use std::fmt;

use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tokio_util::sync::DropGuard;

use super::delivery::Delivery;

/// A running subscription: its deliveries, in arrival order.
pub struct Listener {
    deliveries: Deliveries,
    /// Dropping the listener stops its receiving.
    _stop: Option<DropGuard>,
    /// Ends once the driver let go of the subscription (see
    /// [`Listener::released_by`]).
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
    Bounded(mpsc::Receiver<Delivery>),
    Unbounded(mpsc::UnboundedReceiver<Delivery>),
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
            Self::Bounded(deliveries) => deliveries.fmt(f),
            Self::Unbounded(deliveries) => deliveries.fmt(f),
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

impl Listener {
    /// A listener reading `deliveries` (at most the subscription's prefetch
    /// wait in them); dropping it drops `stop`, which should end what feeds
    /// them.
    pub fn new(deliveries: mpsc::Receiver<Delivery>, stop: DropGuard) -> Self {
        Self {
            deliveries: Deliveries::Bounded(deliveries),
            _stop: Some(stop),
            released: None,
            on_end: None,
        }
    }

    /// A listener reading `deliveries`, for a driver that cannot hold its
    /// broker back; the receiver's concurrency limit still bounds what
    /// runs. Dropping it closes `deliveries`: the sender learns it so.
    pub fn unbounded(deliveries: mpsc::UnboundedReceiver<Delivery>) -> Self {
        Self {
            deliveries: Deliveries::Unbounded(deliveries),
            _stop: None,
            released: None,
            on_end: None,
        }
    }

    /// A listener polling `incoming` for its deliveries; dropping it drops
    /// `stop` (before `incoming`), which should end what feeds them.
    pub fn polling(incoming: impl Incoming, stop: DropGuard) -> Self {
        Self {
            deliveries: Deliveries::Polled(Polled {
                incoming: Box::new(incoming),
                held: std::collections::VecDeque::new(),
            }),
            _stop: Some(stop),
            released: None,
            on_end: None,
        }
    }

    /// Lets [`Listener::close`] wait for the driver: it drops the sender of
    /// `released` once it has let go of the subscription (closed its
    /// channel, removed the queue only it used).
    #[must_use]
    pub fn released_by(mut self, released: oneshot::Receiver<()>) -> Self {
        self.released = Some(released);
        self
    }

    /// Stops receiving, and waits until the driver let go of the
    /// subscription (at once unless the driver said it would tell).
    pub async fn close(mut self) {
        drop(self._stop.take());
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
            Deliveries::Bounded(deliveries) => deliveries.recv().await,
            Deliveries::Unbounded(deliveries) => deliveries.recv().await,
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
                let due =
                    futures_util::future::OptionFuture::from(due.map(tokio::time::sleep_until));
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
        drop(self._stop.take());
        let Some(end) = self.on_end.take() else {
            return;
        };
        let mut left = Vec::new();
        match &mut self.deliveries {
            Deliveries::Bounded(deliveries) => {
                deliveries.close();
                while let Ok(delivery) = deliveries.try_recv() {
                    left.push(delivery);
                }
            }
            Deliveries::Unbounded(deliveries) => {
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
