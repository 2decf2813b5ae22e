//! [`Gate`]: no ack on a channel the broker closed (no channel opening on
//! a connection being closed).
//!
//! RabbitMQ closes a consuming channel on its own (a delivery left unacked
//! past its `consumer_timeout`, ...) and delivers its unacked messages
//! again. amqprs answers the close at once and still sends whatever ack it
//! is given afterwards, on a channel id the broker no longer knows, and the
//! broker then closes the whole connection (`504 CHANNEL_ERROR`). The
//! channel's close callback shuts the gate before amqprs answers; an ack
//! passes the gate (or is refused) as one step, so each ack either reaches
//! the broker before the answer (which the broker ignores) or is not sent.
//!
//! A link's gate does the same for the channels opening on it: closing the
//! link shuts it, so that every channel opened is among those it closes.

use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::RwLock;

/// Whether a channel still takes acks (or a connection, new channels).
#[derive(Debug, Default)]
pub(crate) struct Gate {
    closed: AtomicBool,
    turn: RwLock<()>,
}

impl Gate {
    /// Shuts the gate, once the acks passing it are on their way.
    pub(crate) async fn shut(&self) {
        let _all = self.turn.write().await;
        self.closed.store(true, Ordering::Release);
    }

    /// Whether the gate was shut.
    pub(crate) fn is_shut(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Runs `send` unless the gate is shut; `None` if it was.
    pub(crate) async fn pass<T>(&self, send: impl Future<Output = T>) -> Option<T> {
        let _one = self.turn.read().await;
        if self.is_shut() {
            return None;
        }
        Some(send.await)
    }
}
