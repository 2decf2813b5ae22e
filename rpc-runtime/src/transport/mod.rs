//! Transports: how messages reach the broker (or stay in memory).
//!
//! [`Transport`] is the cheap-to-clone handle users pass to clients and
//! servers. Behind it a `Driver` does the actual moving: publish a call and
//! wait for its reply, publish a confirmed cast, consume a server's queues,
//! publish a reply. The wire mapping ([`crate::wire`]) sits above the driver,
//! so drivers only see [`Message`]s.

pub mod amqp;
pub mod memory;

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use crate::error::{Awaited, RpcError};
use crate::message::Message;
use crate::pending::PendingCall;
use crate::wire::WireFormat;

pub use amqp::{AmqpConfig, TlsOptions};
pub use memory::MemoryBroker;

pub(crate) type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Where a request is sent, in oslo.messaging's terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    /// Any one server of the topic (they compete for the topic queue).
    Topic {
        /// The topic, e.g. `volume`.
        topic: String,
    },
    /// One named server of the topic (its `topic.server` queue).
    Server {
        /// The topic.
        topic: String,
        /// The server's name, e.g. `host-1`.
        server: String,
    },
    /// Every server of the topic (the `topic_fanout` exchange); casts only.
    Fanout {
        /// The topic.
        topic: String,
    },
    /// Whatever is bound to `key` on the control exchange (notifications:
    /// `notifications.info`).
    RoutingKey {
        /// The routing key.
        key: String,
    },
    /// One queue, by name, through the default exchange.
    Queue {
        /// The queue's name.
        name: String,
    },
}

impl fmt::Display for Destination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Destination::Topic { topic } => write!(f, "{topic}"),
            Destination::Server { topic, server } => write!(f, "{topic}.{server}"),
            Destination::Fanout { topic } => write!(f, "{topic} (fanout)"),
            Destination::RoutingKey { key } => write!(f, "{key}"),
            Destination::Queue { name } => write!(f, "queue {name}"),
        }
    }
}

/// What a server listens on: a topic, under a server name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ListenSpec {
    pub(crate) topic: String,
    pub(crate) server: String,
    /// Unacknowledged messages the broker may push at once.
    pub(crate) prefetch: u16,
    /// Whether the topic and server queues are durable.
    pub(crate) durable: bool,
    /// Quorum topic and server queues, with this delivery limit.
    pub(crate) quorum: Option<Option<u32>>,
}

/// A durable queue bound to the control exchange (a notification queue).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct QueueSpec {
    pub(crate) name: String,
    /// Survives a broker restart (with persistent messages).
    pub(crate) durable: bool,
    /// Routing keys on the control exchange.
    pub(crate) bindings: Vec<String>,
    /// At most this many messages wait; the oldest are dropped first
    /// (`x-max-length`), so an unread queue cannot grow forever.
    pub(crate) max_length: Option<u32>,
}

/// One message taken from a server's queues, with the means to settle it.
pub(crate) struct Delivery {
    /// The queue it came from.
    pub(crate) queue: Arc<str>,
    /// The broker delivered it before (an earlier consumer did not ack it).
    pub(crate) redelivered: bool,
    pub(crate) message: Message,
    pub(crate) acker: Box<dyn Acker>,
}

impl fmt::Debug for Delivery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Delivery")
            .field("queue", &self.queue)
            .field("message", &self.message)
            .finish_non_exhaustive()
    }
}

/// Settles one delivery with the broker.
pub(crate) trait Acker: Send + 'static {
    /// The message is taken care of; the broker forgets it.
    fn ack(self: Box<Self>) -> BoxFuture<'static, Result<(), RpcError>>;
}

/// The acker of a delivery the broker already forgot (settled when sent).
pub(crate) struct Settled;

impl Acker for Settled {
    fn ack(self: Box<Self>) -> BoxFuture<'static, Result<(), RpcError>> {
        Box::pin(async { Ok(()) })
    }
}

/// How long a send may take, and whether it may wait for a reconnect.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Patience {
    /// When the caller stops waiting.
    pub(crate) deadline: Instant,
    /// While the transport reconnects, wait for the new connection (up to
    /// the deadline), with at most this many senders waiting at once;
    /// `None`: fail at once.
    pub(crate) wait: Option<usize>,
}

/// How the broker settled a published cast.
#[derive(Debug)]
pub(crate) enum Confirm {
    /// Known already (the in-memory broker answers at once).
    Done(Result<(), RpcError>),
    /// The broker's confirm is on its way.
    Pending(oneshot::Receiver<Result<(), RpcError>>),
}

impl Confirm {
    /// Waits for the outcome (no limit here: the caller adds one).
    pub(crate) async fn outcome(self) -> Result<(), RpcError> {
        match self {
            Confirm::Done(result) => result,
            Confirm::Pending(confirm) => confirm.await.unwrap_or(Err(RpcError::Closed)),
        }
    }
}

/// A running subscription to a server's queues.
#[derive(Debug)]
pub(crate) struct Listener {
    pub(crate) deliveries: mpsc::Receiver<Delivery>,
    /// Dropping the listener stops its consumers.
    pub(crate) _stop: tokio_util::sync::DropGuard,
}

impl Listener {
    /// Waits for a free permit, then for the next delivery, unsealed by
    /// `wire` (one it cannot read is acked, logged and skipped); `None` once
    /// `stop` is cancelled or the deliveries end (logged, naming `what`).
    pub(crate) async fn next(
        &mut self,
        permits: &std::sync::Arc<tokio::sync::Semaphore>,
        stop: &tokio_util::sync::CancellationToken,
        wire: &dyn WireFormat,
        what: &str,
    ) -> Option<(tokio::sync::OwnedSemaphorePermit, Delivery)> {
        let permit = tokio::select! {
            () = stop.cancelled() => return None,
            permit = std::sync::Arc::clone(permits).acquire_owned() => permit.ok()?,
        };
        loop {
            let delivery = tokio::select! {
                () = stop.cancelled() => return None,
                delivery = self.deliveries.recv() => delivery,
            };
            let Some(mut delivery) = delivery else {
                tracing::error!(what, "stopped receiving: the deliveries ended");
                return None;
            };
            match wire.unseal(std::mem::take(&mut delivery.message)) {
                Ok(message) => {
                    delivery.message = message;
                    return Some((permit, delivery));
                }
                Err(error) => {
                    tracing::warn!(what, queue = %delivery.queue, %error, "dropped an unreadable message");
                    if let Err(error) = delivery.acker.ack().await {
                        tracing::debug!(%error, "could not ack an unreadable message");
                    }
                }
            }
        }
    }
}

/// The operations a transport implementation provides.
pub(crate) trait Driver: Send + Sync + fmt::Debug + 'static {
    /// Publishes a request with a reply address; the returned call receives
    /// its heartbeats and reply. The caller bounds the wait for the reply;
    /// dropping the call forgets it.
    fn call(
        &self,
        destination: Destination,
        message: Message,
        patience: Patience,
    ) -> BoxFuture<'_, Result<PendingCall, RpcError>>;

    /// Publishes a one-way message; the returned confirm says how the broker
    /// settled it.
    fn cast(
        &self,
        destination: Destination,
        message: Message,
        patience: Patience,
    ) -> BoxFuture<'_, Result<Confirm, RpcError>>;

    /// Declares a server's queues and starts consuming them.
    fn listen(&self, spec: ListenSpec) -> BoxFuture<'_, Result<Listener, RpcError>>;

    /// Declares a queue bound to the control exchange (idempotent).
    fn declare_queue(&self, spec: QueueSpec) -> BoxFuture<'_, Result<(), RpcError>>;

    /// Declares (again after a reconnect) and consumes queues; each delivery
    /// must be acked by the receiver.
    fn consume(
        &self,
        queues: Vec<QueueSpec>,
        prefetch: u16,
    ) -> BoxFuture<'_, Result<Listener, RpcError>>;

    /// Sends a reply to the queue named in a request's `reply_to`.
    fn reply(&self, reply_to: String, message: Message) -> BoxFuture<'_, Result<(), RpcError>>;

    /// Closes connections; pending calls fail with [`RpcError::Closed`].
    fn close(&self) -> BoxFuture<'_, ()>;

    /// How many calls wait for a reply right now.
    fn pending_calls(&self) -> usize;
}

/// A handle on a message transport, shared by clients and servers.
///
/// Clone it freely: clones share one broker connection.
///
/// ```no_run
/// # async fn demo() -> Result<(), rpc_runtime::RpcError> {
/// let transport = rpc_runtime::Transport::connect("amqp://guest:guest@127.0.0.1:5672/%2f").await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Transport {
    driver: Arc<dyn Driver>,
    wire: Arc<dyn WireFormat>,
    max_pending_calls: usize,
    fail_fast: bool,
}

/// How many calls may wait for replies on one transport unless told otherwise.
pub const DEFAULT_MAX_PENDING_CALLS: usize = 10_000;

/// How far past its deadline a driver may take to give up on a send, before
/// the transport stops waiting for it anyway.
const FENCE: Duration = Duration::from_millis(250);

/// `timeout` from now, or as far as a timer reaches.
fn deadline_after(timeout: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(timeout)
        .unwrap_or_else(|| now + Duration::from_secs(u64::from(u32::MAX)))
}

impl Transport {
    /// Connects to RabbitMQ at an `amqp://user:password@host:port/vhost` URL
    /// with default options; see [`AmqpConfig`] for the others.
    pub async fn connect(url: &str) -> Result<Self, RpcError> {
        AmqpConfig::from_url(url)?.connect().await
    }

    /// A transport on a new, private in-memory broker (see [`MemoryBroker`]):
    /// everything works as over RabbitMQ, within this process. Clone it to
    /// share the broker between a server and its clients.
    pub fn memory() -> Self {
        MemoryBroker::new().connect()
    }

    /// Connects to `url` when given, else returns [`Transport::memory`]:
    /// the shape of a `--amqp <url>` command-line option.
    pub async fn open(url: Option<&str>) -> Result<Self, RpcError> {
        match url {
            Some(url) => Self::connect(url).await,
            None => Ok(Self::memory()),
        }
    }

    /// The same transport (same connection) with another limit on message
    /// bodies, for sending and receiving (default 16 MiB).
    pub fn with_max_message_size(&self, bytes: usize) -> Self {
        Self {
            wire: self.wire.with_max_size(bytes),
            ..self.clone()
        }
    }

    pub(crate) fn from_parts(driver: Arc<dyn Driver>, wire: Arc<dyn WireFormat>) -> Self {
        Self {
            driver,
            wire,
            max_pending_calls: DEFAULT_MAX_PENDING_CALLS,
            fail_fast: false,
        }
    }

    /// The same transport (same connection) refusing new calls with
    /// [`RpcError::Overloaded`] while `limit` calls already wait for replies
    /// (and new calls and casts while `limit` wait for a reconnect).
    pub fn with_max_pending_calls(&self, limit: usize) -> Self {
        Self {
            max_pending_calls: limit,
            ..self.clone()
        }
    }

    /// The same transport (same connection), failing calls and casts made
    /// while it reconnects at once with [`RpcError::Connection`] instead of
    /// letting them wait for the new connection (as long as their own
    /// timeout allows, the default).
    pub fn with_fail_fast(&self, fail_fast: bool) -> Self {
        Self {
            fail_fast,
            ..self.clone()
        }
    }

    fn patience(&self, deadline: Instant) -> Patience {
        Patience {
            deadline,
            wait: (!self.fail_fast).then_some(self.max_pending_calls),
        }
    }

    pub(crate) fn driver(&self) -> &dyn Driver {
        &*self.driver
    }

    pub(crate) fn wire(&self) -> &dyn WireFormat {
        &*self.wire
    }

    /// The wire format this transport speaks.
    pub fn speaks(&self) -> crate::wire::Wire {
        self.wire.kind()
    }

    pub(crate) fn shared_wire(&self) -> Arc<dyn WireFormat> {
        Arc::clone(&self.wire)
    }

    /// Sends an already built message as a call and waits up to `timeout`
    /// for the reply message, bypassing the typed layer (tools such as a
    /// command-line client use it; so do tests sending malformed requests).
    pub async fn call_raw(
        &self,
        destination: Destination,
        message: Message,
        timeout: Duration,
    ) -> Result<Message, RpcError> {
        let method = self.method_of(&message);
        self.call_monitored(&method, destination, message, timeout, None)
            .await
    }

    /// The method a built request names, for errors about it.
    fn method_of(&self, message: &Message) -> String {
        self.wire
            .decode_request(message.clone())
            .map_or_else(|_| "an unreadable request".to_owned(), |r| r.method)
    }

    /// Sends a call and waits for its reply, at most `timeout`; with a
    /// `monitor`, also gives up after that long without a heartbeat.
    pub(crate) async fn call_monitored(
        &self,
        method: &str,
        destination: Destination,
        mut message: Message,
        timeout: Duration,
        monitor: Option<Duration>,
    ) -> Result<Message, RpcError> {
        if let Destination::Fanout { .. } = destination {
            return Err(RpcError::config(
                "a call cannot be sent to a fanout: nobody would know whose reply to wait for",
            ));
        }
        self.check_size(&message)?;
        if self.driver.pending_calls() >= self.max_pending_calls {
            return Err(RpcError::Overloaded {
                limit: self.max_pending_calls,
            });
        }
        // RabbitMQ refuses (and closes the channel for) larger expirations.
        let ttl = timeout.as_millis().min(u128::from(u32::MAX));
        message.expiration_ms = Some(u64::try_from(ttl).unwrap_or(u64::from(u32::MAX)));
        let deadline = deadline_after(timeout);
        let timed_out = || RpcError::Timeout {
            method: method.to_owned(),
            destination: destination.to_string(),
            timeout,
            awaited: Awaited::Reply,
        };
        // The driver keeps the deadline itself while it waits for a
        // connection (and then says why); this bound is a second fence.
        let sent = self
            .driver
            .call(destination.clone(), message, self.patience(deadline));
        let fence = deadline + FENCE;
        let mut call = tokio::time::timeout_at(fence, sent)
            .await
            .map_err(|_| timed_out())??;
        let mut silent_until = monitor.map(|m| Instant::now() + m);
        loop {
            let wake = silent_until.map_or(deadline, |s| s.min(deadline));
            match tokio::time::timeout_at(wake, call.next()).await {
                Ok(message) => {
                    let message = message?;
                    if !self.wire.is_heartbeat(&message) {
                        return Ok(message);
                    }
                    silent_until = monitor.map(|m| Instant::now() + m);
                }
                Err(_) if Instant::now() >= deadline => return Err(timed_out()),
                Err(_) => {
                    return Err(RpcError::Unresponsive {
                        method: method.to_owned(),
                        silence: monitor.unwrap_or_default(),
                    });
                }
            }
        }
    }

    /// Sends a request with a reply address (to a fanout too) and collects
    /// every reply that arrives within `window`, with how long each took: a
    /// fanout `ping` gets one answer per live server.
    pub async fn gather(
        &self,
        destination: Destination,
        mut message: Message,
        window: Duration,
    ) -> Result<Vec<(Duration, Message)>, RpcError> {
        self.check_size(&message)?;
        let ttl = window.as_millis().min(u128::from(u32::MAX));
        message.expiration_ms = Some(u64::try_from(ttl).unwrap_or(u64::from(u32::MAX)));
        let started = Instant::now();
        let deadline = started + window;
        let patience = self.patience(deadline);
        let sent = tokio::time::timeout_at(
            deadline + FENCE,
            self.driver.call(destination, message, patience),
        );
        let Ok(call) = sent.await else {
            return Ok(Vec::new());
        };
        let mut call = call?;
        let mut replies = Vec::new();
        while let Ok(Ok(reply)) = tokio::time::timeout_at(deadline, call.next()).await {
            if !self.wire.is_heartbeat(&reply) {
                replies.push((started.elapsed(), reply));
            }
        }
        Ok(replies)
    }

    /// Sends an already built message one-way and waits at most `timeout`
    /// for the broker's confirm, bypassing the typed layer.
    pub async fn cast_raw(
        &self,
        destination: Destination,
        message: Message,
        timeout: Duration,
    ) -> Result<(), RpcError> {
        let method = self.method_of(&message);
        self.cast_named(&method, destination, message, timeout)
            .await
    }

    /// Sends a cast of `method` and waits at most `timeout` for the
    /// broker's confirm; [`RpcError::Timeout`] then leaves it in doubt.
    pub(crate) async fn cast_named(
        &self,
        method: &str,
        destination: Destination,
        message: Message,
        timeout: Duration,
    ) -> Result<(), RpcError> {
        self.check_size(&message)?;
        let deadline = deadline_after(timeout);
        let timed_out = || RpcError::Timeout {
            method: method.to_owned(),
            destination: destination.to_string(),
            timeout,
            awaited: Awaited::Confirm,
        };
        let sent = self
            .driver
            .cast(destination.clone(), message, self.patience(deadline));
        let confirm = tokio::time::timeout_at(deadline + FENCE, sent)
            .await
            .map_err(|_| timed_out())??;
        tokio::time::timeout_at(deadline, confirm.outcome())
            .await
            .map_err(|_| timed_out())?
    }

    /// Refuses to send a body the receiving side would refuse to decode.
    pub(crate) fn check_size(&self, message: &Message) -> Result<(), RpcError> {
        let limit = self.wire.codec().max_size();
        if message.body.len() > limit {
            return Err(RpcError::Encode {
                what: "the message".to_owned(),
                detail: format!(
                    "its body of {} bytes exceeds the limit of {limit} bytes",
                    message.body.len()
                ),
            });
        }
        Ok(())
    }

    /// How many calls made through this transport wait for their reply.
    /// Zero whenever no call is in flight: a call that returned, timed out or
    /// was dropped leaves nothing behind.
    pub fn pending_calls(&self) -> usize {
        self.driver.pending_calls()
    }

    /// Closes the transport's connections. Calls still waiting fail with
    /// [`RpcError::Closed`]; servers on this transport stop receiving.
    pub async fn close(&self) {
        self.driver.close().await;
    }
}

impl fmt::Debug for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Transport")
            .field("driver", &self.driver)
            .field("wire", &self.wire)
            .finish()
    }
}
