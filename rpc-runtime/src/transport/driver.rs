//! What a transport implementation provides: the [`Driver`] trait, and the
//! types it speaks in.
//!
//! A driver only moves messages: it publishes to a [`Destination`],
//! receives from a [`Source`], gives the address replies come back to, and
//! reports what happens to its connection through [`Events`]. Everything
//! else (pending calls, correlation ids, the wire format, deadlines,
//! heartbeats, redelivery counts) is the [`Transport`](super::Transport)'s,
//! the same for every driver. [`Transport::with_driver`](super::Transport::with_driver)
//! puts a driver of your own under the typed clients and servers.

use std::fmt;

use std::time::Instant;

use tokio::sync::oneshot;

use super::Destination;
pub use super::delivery::{Acker, Delivery, Liveness};
pub use super::events::{CallId, Events};
pub use super::listener::{Feed, Incoming, Listener, Release};
use crate::error::RpcError;
use crate::future::BoxFuture;
use crate::message::Message;
use crate::topology::{self, Exchange, Lifetime, QueueSpec, Route};

/// Moves messages for a [`Transport`](super::Transport).
///
/// Messages arrive sealed in the transport's wire format: a driver never
/// looks into them, except at the properties of [`Message`].
pub trait Driver: Send + Sync + fmt::Debug + 'static {
    /// Publishes `message` to `to`. Publishing is mandatory: a destination
    /// that nothing receives from fails with [`RpcError::Undeliverable`],
    /// at once or through the returned [`Confirm`]. `how` says what the
    /// sender waits for, and until when.
    fn publish<'a>(
        &'a self,
        to: &'a Destination,
        message: Message,
        how: Publish,
    ) -> BoxFuture<'a, Result<Confirm, RpcError>>;

    /// Makes `source` exist (messages published to it wait there) and
    /// starts receiving from it, until the returned listener is dropped.
    fn subscribe(&self, spec: Subscribe) -> BoxFuture<'_, Result<Listener, RpcError>>;

    /// Makes `source` exist without receiving from it (a notifier's queue,
    /// so nothing is lost before a listener exists).
    fn declare(&self, spec: Subscribe) -> BoxFuture<'_, Result<(), RpcError>>;

    /// The address (a queue's name) that replies to this transport are
    /// published to, as [`Destination::Queue`]; what arrives there goes to
    /// [`Events::reply`]. Waits for a connection as `how` allows.
    fn reply_address(&self, how: Publish) -> BoxFuture<'_, Result<String, RpcError>>;

    /// The reply address, if it is known without waiting (connected, and
    /// the reply queue ready): every call asks, and this spares it a future.
    /// `None` (the default) sends the call through [`Driver::reply_address`].
    fn ready_reply_address(&self) -> Option<String> {
        None
    }

    /// Closes the connection; nothing is received afterwards. Default:
    /// nothing to close.
    fn close(&self) -> BoxFuture<'_, ()> {
        Box::pin(async {})
    }

    /// The largest message body the broker accepts, once known (RabbitMQ
    /// says it only when it refuses one): larger ones are refused before
    /// they are sent, with [`RpcError::TooLarge`]. Default: not known.
    fn max_message_size(&self) -> Option<usize> {
        None
    }

    /// Why the broker blocks publishing (a resource alarm: `low on
    /// memory`, `low on disk`), while it does. A call or cast whose
    /// deadline passes meanwhile fails with [`RpcError::Blocked`]. Default:
    /// never blocked.
    fn blocked(&self) -> Option<String> {
        None
    }

    /// Where this driver publishes now, for the spans of calls and casts.
    /// Default: nothing known.
    fn peer(&self) -> Peer {
        Peer::default()
    }

    /// What the broker holds for queue `name`, without creating or changing
    /// it: `None` when it does not exist. A driver that cannot tell
    /// answers [`RpcError::Config`] (the default).
    fn queue_status(&self, name: &str) -> BoxFuture<'_, Result<Option<QueueStatus>, RpcError>> {
        let _ = name;
        Box::pin(async { Err(RpcError::config("this transport cannot inspect queues")) })
    }

    /// Whether exchange `name` exists, without creating it. A driver that
    /// cannot tell answers [`RpcError::Config`] (the default).
    fn exchange_exists(&self, name: &str) -> BoxFuture<'_, Result<bool, RpcError>> {
        let _ = name;
        Box::pin(async { Err(RpcError::config("this transport cannot inspect exchanges")) })
    }
}

/// Where a driver publishes (see [`Driver::peer`]).
#[derive(Debug, Clone, Default)]
pub struct Peer {
    /// The messaging system (`rabbitmq`), for `messaging.system`.
    pub system: Option<&'static str>,
    /// The exchange requests go to.
    pub exchange: Option<String>,
    /// The broker connected to now, `host:port`.
    pub broker: Option<String>,
}

/// A queue's state as the broker reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueStatus {
    /// Messages ready to be delivered (not those delivered and unacked).
    pub messages: u64,
    /// Consumers reading it.
    pub consumers: u64,
}

/// What the sender of a message waits for, and until when.
#[derive(Debug, Clone, Copy)]
pub struct Publish {
    /// When the sender stops waiting.
    pub deadline: Instant,
    /// While the driver reconnects, wait for the new connection (up to the
    /// deadline), with at most this many senders waiting at once; `None`:
    /// fail at once with [`RpcError::Connection`].
    pub wait_for_connection: Option<usize>,
    /// How the broker's settlement reaches the sender.
    pub settle: Settle,
}

/// How a published message's settlement reaches its sender.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settle {
    /// The sender waits for the broker's confirm on the returned [`Confirm`].
    Confirm,
    /// The request of a call: a refusal or return is reported through
    /// [`Events::refused`] with this call's id; nobody waits for success.
    Call(CallId),
    /// Handed over is enough (a reply: nobody could act on its fate).
    None,
}

/// How the broker settled a published message.
#[derive(Debug)]
pub enum Confirm {
    /// Known already.
    Done(Result<(), RpcError>),
    /// The broker's confirm is on its way (see [`Confirm::pending`]).
    Pending(Pending),
}

/// A confirm on its way: the driver settles it through its [`Settler`].
#[derive(Debug)]
pub struct Pending(oneshot::Receiver<Result<(), RpcError>>);

/// What a driver settles a pending confirm with, once the broker said; a
/// settler dropped unsettled leaves its sender with [`RpcError::Closed`].
#[derive(Debug)]
pub struct Settler(oneshot::Sender<Result<(), RpcError>>);

impl Settler {
    /// Settles the confirm with the broker's outcome.
    pub fn settle(self, outcome: Result<(), RpcError>) {
        let _ = self.0.send(outcome);
    }
}

impl Confirm {
    /// A confirm on its way, and the settler the driver settles it with.
    pub fn pending() -> (Settler, Confirm) {
        let (settler, pending) = oneshot::channel();
        (Settler(settler), Confirm::Pending(Pending(pending)))
    }

    /// Waits for the outcome (no limit here: the caller adds one).
    pub async fn outcome(self) -> Result<(), RpcError> {
        match self {
            Confirm::Done(result) => result,
            Confirm::Pending(Pending(confirm)) => confirm.await.unwrap_or(Err(RpcError::Closed)),
        }
    }
}

/// What to receive, and how it is kept while nobody takes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscribe {
    /// What to receive.
    pub source: Source,
    /// At most this many received messages wait unsettled at once.
    pub prefetch: u16,
    /// How messages are kept until taken.
    pub durability: Durability,
    /// At most this many messages wait; the oldest are dropped first.
    pub max_length: Option<u32>,
    /// The queue only this subscriber uses (a server's own, `topic.server`)
    /// is deleted by the broker after this long without a consumer, so a
    /// server that died leaves nothing behind for good. (A subscriber that
    /// stops cleanly deletes it at once when nothing waits in it.)
    pub expires: Option<std::time::Duration>,
}

/// What a subscription receives, in the runtime's own terms (the AMQP
/// driver keeps them as oslo.messaging's queues and exchanges).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Source {
    /// A server's requests: those for any server of `topic` (shared with
    /// the topic's other servers, one of them gets each), those for
    /// `server` by name, and the topic's fanout (every server gets each).
    Server {
        /// The topic.
        topic: String,
        /// The server's name.
        server: String,
    },
    /// Notifications published with any of `keys`, kept for `pool` (its
    /// listeners share them); without a pool, each key's own default
    /// queue, shared by every listener without a pool.
    Notifications {
        /// The pool, if any.
        pool: Option<String>,
        /// The routing keys (`notifications.info`, ...).
        keys: Vec<String>,
    },
}

impl Source {
    /// Every queue behind this source, with its bindings (oslo's names:
    /// see [`crate::topology`]). A server's fanout queue gets a fresh name
    /// at each call: declare what one call returns (a queue of a
    /// connection that just died may linger a moment).
    pub fn queues(&self) -> Vec<QueueSpec> {
        let control = |key: String| Route {
            exchange: Exchange::Control,
            key,
        };
        let own_key = |name: String, lifetime| QueueSpec {
            bindings: vec![control(name.clone())],
            name,
            lifetime,
        };
        match self {
            Source::Server { topic, server } => vec![
                own_key(topology::topic_queue(topic).to_owned(), Lifetime::Shared),
                own_key(topology::server_queue(topic, server), Lifetime::Own),
                QueueSpec {
                    name: topology::fanout_queue(topic),
                    lifetime: Lifetime::Exclusive,
                    bindings: vec![Route {
                        exchange: Exchange::Fanout(topology::fanout_exchange(topic)),
                        key: topic.clone(),
                    }],
                },
            ],
            Source::Notifications {
                pool: Some(pool),
                keys,
            } => vec![QueueSpec {
                name: pool.clone(),
                lifetime: Lifetime::Shared,
                bindings: keys.iter().cloned().map(control).collect(),
            }],
            Source::Notifications { pool: None, keys } => keys
                .iter()
                .map(|key| own_key(key.clone(), Lifetime::Shared))
                .collect(),
        }
    }

    /// The queue meant for this subscriber alone, if any: a server's own
    /// (`topic.server`), which [`Subscribe::expires`] applies to and which
    /// the subscriber removes when it stops (when idle).
    pub fn own_queue(&self) -> Option<String> {
        match self {
            Source::Server { topic, server } => Some(topology::server_queue(topic, server)),
            Source::Notifications { .. } => None,
        }
    }
}

/// How long messages are kept while nobody takes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// Until the broker restarts.
    #[default]
    Transient,
    /// Across broker restarts (with persistent messages).
    Durable,
    /// Replicated across a cluster's nodes (RabbitMQ's quorum queues); with a
    /// limit, a message delivered that many times without being settled is
    /// dropped.
    Replicated {
        /// The delivery limit, if any.
        delivery_limit: Option<u32>,
    },
}
