//! One received message and the means to settle it with the broker: a
//! [`Delivery`] and its [`Acker`]. A broker may take back a delivery left
//! unsettled too long (RabbitMQ's `consumer_timeout`): a driver says by
//! when it must be settled ([`Delivery::settle_by`]), and whether it still
//! can be ([`Acker::is_live`]: not once its channel is gone).

use std::fmt;
use std::sync::Arc;

use std::time::Instant;

use crate::error::RpcError;
use crate::future::BoxFuture;
use crate::message::Message;

/// One received message, with the means to settle it.
pub struct Delivery {
    /// The queue it came from (publishing to [`Destination::Queue`] with
    /// this name puts a message back there).
    pub(crate) queue: Arc<str>,
    /// The broker delivered it before (an earlier receiver did not settle it).
    pub(crate) redelivered: bool,
    /// The message, sealed.
    pub(crate) message: Message,
    /// Settles it.
    pub(crate) acker: Acker,
    /// When the broker would take it back if still unsettled.
    pub(crate) settle_by: Option<Instant>,
}

impl Delivery {
    /// A message received from `queue` (`redelivered`: the broker
    /// delivered it before); `acker` settles it. Relative deadlines count
    /// from the message's `received_at`: stamp it when the message reaches
    /// the process, if it can wait in the driver before this; else it is
    /// stamped now.
    pub fn new(queue: Arc<str>, redelivered: bool, mut message: Message, acker: Acker) -> Self {
        message
            .received_at
            .get_or_insert_with(std::time::Instant::now);
        Self {
            queue,
            redelivered,
            message,
            acker,
            settle_by: None,
        }
    }

    /// The broker takes the delivery back (to deliver it again) if it is
    /// not settled by `deadline`: a receiver that cannot run it by then
    /// acks it before.
    #[must_use]
    pub fn settle_by(mut self, deadline: Instant) -> Self {
        self.settle_by = Some(deadline);
        self
    }

    /// The message, sealed.
    pub fn into_message(self) -> Message {
        self.message
    }
}

impl fmt::Debug for Delivery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Delivery")
            .field("queue", &self.queue)
            .field("message", &self.message)
            .finish_non_exhaustive()
    }
}

/// Settles one delivery with the broker: its ack, not yet sent.
pub struct Acker {
    ack: Option<BoxFuture<'static, Result<(), RpcError>>>,
    /// Whether the ack can still reach the broker.
    live: Option<Liveness>,
}

/// Tells whether a delivery can still be settled (see [`Acker::while_live`]).
pub type Liveness = Arc<dyn Fn() -> bool + Send + Sync>;

impl Acker {
    /// Acks with `ack`, a future that does nothing until awaited (as an
    /// `async` block): the message is taken care of, the broker forgets it.
    /// Dropped unawaited, the message is not acked.
    pub fn new(ack: impl Future<Output = Result<(), RpcError>> + Send + 'static) -> Self {
        Self {
            ack: Some(Box::pin(ack)),
            live: None,
        }
    }

    /// The acker of a delivery the broker already forgot (settled when sent).
    pub fn settled() -> Self {
        Self {
            ack: None,
            live: None,
        }
    }

    /// The ack can reach the broker only while `live` says so (the channel
    /// the delivery came on is open): once it cannot, the broker gives the
    /// message to a receiver again, and this copy must not run.
    #[must_use]
    pub fn while_live(mut self, live: Liveness) -> Self {
        self.live = Some(live);
        self
    }

    /// Whether the delivery can still be settled (always, once settled).
    pub(crate) fn is_live(&self) -> bool {
        self.ack.is_none() || self.live.as_ref().is_none_or(|live| live())
    }

    /// Acks the delivery.
    pub(crate) async fn ack(self) -> Result<(), RpcError> {
        match self.ack {
            Some(ack) => ack.await,
            None => Ok(()),
        }
    }

    /// Acks the delivery now and leaves a settled acker in its place.
    pub(crate) async fn ack_now(&mut self) -> Result<(), RpcError> {
        std::mem::replace(self, Self::settled()).ack().await
    }
}

impl fmt::Debug for Acker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = if self.ack.is_some() {
            "unsent"
        } else {
            "settled"
        };
        f.debug_tuple("Acker").field(&state).finish()
    }
}
