//! Transports: how messages reach the broker (or stay in memory).
//!
//! [`Transport`] is the cheap-to-clone handle users pass to clients and
//! servers. It owns the message glue, the same for every broker: the
//! caller's path (`calls.rs`: pending calls and correlation ids, the reply
//! address, the wire format, deadlines, heartbeats) and what servers and
//! listeners receive through (`intake.rs`). Under it a [`Driver`] only moves messages:
//! publish, subscribe, give a reply address, close, and report what happens
//! through [`Events`]. This crate has two drivers, [`amqp`] (RabbitMQ) and
//! [`memory`] (in process); [`Transport::with_driver`] takes one of yours.

pub mod amqp;
pub(crate) mod calls;
mod delivery;
mod destination;
pub mod driver;
mod events;
mod intake;
mod listener;
pub mod memory;
mod mismatch;
pub(crate) mod pending;

use std::fmt;
use std::sync::Arc;

pub use crate::options::DEFAULT_TIMEOUT;
pub use destination::Destination;
pub use driver::{Driver, Events, Peer, QueueStatus};
pub(crate) use intake::times_back;
pub use memory::MemoryBroker;

use self::events::Hub;
use crate::error::RpcError;
use crate::message::Message;
use crate::wire::{Wire, WireFormat};

/// Sees every request a transport sends, unsealed, and whether it is a
/// call (what `testing::record` shows a test).
pub(crate) type Recorder = Arc<dyn Fn(&Destination, &Message, bool) + Send + Sync>;

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
    hub: Arc<Hub>,
    /// The wire this handle speaks (its size limit may differ from the
    /// connection's).
    wire: Arc<dyn WireFormat>,
    max_pending_calls: usize,
    fail_fast: bool,
    recorder: Option<Recorder>,
    /// How servers keep their queues unless their builder says otherwise.
    queue_durability: driver::Durability,
}

/// How many calls may wait for replies on one transport unless told otherwise.
pub const DEFAULT_MAX_PENDING_CALLS: usize = 10_000;

impl Transport {
    /// Connects to RabbitMQ at an `amqp://user:password@host:port/vhost` URL
    /// with default options; see [`amqp::AmqpConfig`] for the others.
    pub async fn connect(url: &str) -> Result<Self, RpcError> {
        amqp::AmqpConfig::from_url(url)?.connect().await
    }

    /// Connects as an OpenStack service configured by the oslo.config file
    /// at `path` would (`nova.conf`: `[DEFAULT] transport_url`,
    /// `control_exchange`, `[oslo_messaging_rabbit]`); each messaging
    /// option it does not apply is named in a WARN (see
    /// [`amqp::OsloConfig`]).
    pub async fn from_oslo_config(path: impl AsRef<std::path::Path>) -> Result<Self, RpcError> {
        let config = amqp::OsloConfig::read(path)?;
        for option in config.ignored() {
            tracing::warn!(%option, "an oslo.messaging option this runtime does not apply");
        }
        config.into_amqp().connect().await
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

    /// A transport over a driver of your own, speaking `wire`; `make` gets
    /// the [`Events`] through which the driver reports replies and losses.
    pub fn with_driver<D: Driver>(wire: Wire, make: impl FnOnce(Events) -> D) -> Self {
        Self::with_format(wire.format(crate::codec::DEFAULT_MAX_MESSAGE_SIZE), make)
    }

    /// A transport over a driver of your own, speaking a wire format of
    /// your own (or a built-in one with its own size limit).
    pub fn with_format<D: Driver>(
        format: Arc<dyn WireFormat>,
        make: impl FnOnce(Events) -> D,
    ) -> Self {
        let (events, hub) = Self::events(format);
        Self::assemble(Arc::new(make(events)), hub)
    }

    /// The events a driver for a transport speaking `wire` reports to, and
    /// their receiving end (for [`Transport::assemble`]).
    pub(crate) fn events(wire: Arc<dyn WireFormat>) -> (Events, Arc<Hub>) {
        let hub = Arc::new(Hub::new(wire));
        (Events(Arc::clone(&hub)), hub)
    }

    /// The transport over `driver`, whose events go to `hub`.
    pub(crate) fn assemble(driver: Arc<dyn Driver>, hub: Arc<Hub>) -> Self {
        Self {
            driver,
            wire: Arc::clone(hub.wire()),
            hub,
            max_pending_calls: DEFAULT_MAX_PENDING_CALLS,
            fail_fast: false,
            recorder: None,
            queue_durability: driver::Durability::Transient,
        }
    }

    /// The same transport, whose servers keep their queues so unless their
    /// builder says otherwise.
    pub(crate) fn with_queue_durability(&self, durability: driver::Durability) -> Self {
        Self {
            queue_durability: durability,
            ..self.clone()
        }
    }

    /// How servers on this transport keep their queues by default.
    pub(crate) fn queue_durability(&self) -> driver::Durability {
        self.queue_durability
    }

    /// The same transport (same connection) with another limit on message
    /// bodies, for sending and receiving (default 16 MiB).
    pub fn with_max_message_size(&self, bytes: usize) -> Self {
        Self {
            wire: self.wire.with_max_size(bytes),
            ..self.clone()
        }
    }

    /// The same transport (same connection) refusing new calls with
    /// [`RpcError::Overloaded`] while `limit` calls already wait for replies
    /// (and new casts while `limit` wait for a reconnect).
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

    /// The same transport, showing every request it sends to `recorder`.
    pub(crate) fn with_recorder(&self, recorder: Recorder) -> Self {
        Self {
            recorder: Some(recorder),
            ..self.clone()
        }
    }

    /// The wire format this transport speaks: its messages, and what it
    /// can carry.
    pub fn wire(&self) -> &dyn WireFormat {
        &*self.wire
    }

    /// The built-in wire format this transport speaks; `None` for a format
    /// of your own ([`Transport::with_format`]).
    pub fn speaks(&self) -> Option<Wire> {
        self.wire.kind()
    }

    /// How many calls made through this transport wait for their reply.
    /// Zero whenever no call is in flight: a call that returned, timed out or
    /// was dropped leaves nothing behind.
    pub fn pending_calls(&self) -> usize {
        self.hub.pending.len()
    }

    /// What the broker holds for queue `name` (messages ready, consumers),
    /// without creating or changing it; `None` when it does not exist. For
    /// operators' tools: `rpcctl topology` reads a topic's queues with it.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), rpc_runtime::RpcError> {
    /// let transport = rpc_runtime::Transport::memory();
    /// assert_eq!(transport.queue_status("volume").await?, None);
    /// # Ok(()) }
    /// ```
    pub async fn queue_status(&self, name: &str) -> Result<Option<QueueStatus>, RpcError> {
        self.driver.queue_status(name).await
    }

    /// Where this transport publishes now (see [`Driver::peer`]).
    pub fn peer(&self) -> Peer {
        self.driver.peer()
    }

    /// Whether exchange `name` exists, without creating it.
    pub async fn exchange_exists(&self, name: &str) -> Result<bool, RpcError> {
        self.driver.exchange_exists(name).await
    }

    /// Closes the transport's connections. Calls still waiting fail with
    /// [`RpcError::Closed`]; servers on this transport stop receiving.
    ///
    /// Await it before the process ends: it also waits (bounded by the
    /// operation timeout) for the broker operations still running on the
    /// connection, which a runtime shutting down would otherwise drop
    /// half-way.
    pub async fn close(&self) {
        self.hub.close();
        self.driver.close().await;
    }
}

impl fmt::Debug for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Transport")
            .field("driver", &self.driver)
            .field("wire", &self.wire)
            .field("pending_calls", &self.pending_calls())
            .finish()
    }
}
