//! The AMQP 0-9-1 transport, over amqprs.
//!
//! An `AmqpDriver` keeps one `Session` (a broker connection with a
//! confirm-mode publishing channel for casts and call requests, one for
//! fanout casts, one for replies, one for declarations, and a reply queue
//! once a call needs it) and a supervisor that replaces the session when
//! the connection is lost or found useless. Servers and listeners consume
//! through subscriptions, which follow the sessions. Requests are published
//! `mandatory`, so a destination nobody listens on fails at once instead of
//! timing out. Every call into amqprs goes through `shield`.

mod admin;
mod alarm;
mod callback;
mod checks;
mod config;
mod confirms;
mod consumer;
mod declare;
mod direct;
mod drain;
mod endpoint;
mod handshake;
mod health;
mod incoming;
mod limits;
mod oslo_config;
mod props;
mod publisher;
mod rabbit_queues;
mod raw;
mod refusal;
mod replies;
mod seats;
mod sending;
mod session;
mod shield;
mod subscription;
mod supervisor;
mod tls;
mod url;

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::watch;
use tokio_util::sync::{CancellationToken, DropGuard};
use tokio_util::task::TaskTracker;

pub use config::{
    AmqpConfig, DEFAULT_CONNECTION_TIMEOUT, DEFAULT_CONSUMER_TIMEOUT, DEFAULT_CONTROL_EXCHANGE,
};
pub use endpoint::Endpoint;
pub use oslo_config::OsloConfig;
pub use tls::TlsOptions;

use self::limits::Limits;
use self::session::Session;
use self::supervisor::State;
use crate::error::RpcError;
use crate::future::BoxFuture;
use crate::message::Message;
use crate::topology;
use crate::transport::driver::{
    Confirm, Driver, Events, Listener, Peer, Publish, QueueStatus, Settle, Subscribe,
};
use crate::transport::{Destination, Transport};

/// The AMQP implementation of [`Driver`].
pub(crate) struct AmqpDriver {
    config: AmqpConfig,
    events: Events,
    state: watch::Receiver<State>,
    /// Senders waiting for a session while the transport reconnects.
    waiting: AtomicUsize,
    stop: CancellationToken,
    /// Cancelled by [`Driver::close`] (not by a drop).
    closed: CancellationToken,
    /// The subscriptions' tasks, which a dropped transport lets finish.
    subscriptions: TaskTracker,
    /// A token per subscription whose listener went and which still lets
    /// go of the broker (cancels, gives back, removes its own queue).
    stopping: TaskTracker,
    /// The broker's limits, as configured and learned.
    limits: Arc<Limits>,
    /// Stops the supervisor when the driver goes, which closes the connection.
    _stop_guard: DropGuard,
}

/// Counts a sender waiting for a session while it waits.
struct Waiting<'a>(&'a AtomicUsize);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl AmqpDriver {
    /// Connects (to the first broker of the URL that answers) and returns a
    /// [`Transport`] that stays connected.
    pub(crate) async fn connect(config: AmqpConfig) -> Result<Transport, RpcError> {
        topology::check_name("control exchange", config.exchange())?;
        let wire = config.speaks();
        let (events, hub) = Transport::events(wire);
        let limits = Arc::new(Limits::new(&config));
        let (session, next) = supervisor::connect_any(&config, 0, &limits).await?;
        limits::warn_of_size(&config, session.link.broker_version());
        let session = Arc::new(session);
        let (state_tx, state) = watch::channel(State::Up(Arc::clone(&session)));
        let stop = CancellationToken::new();
        let (closed, subscriptions) = (CancellationToken::new(), TaskTracker::new());
        let ending = supervisor::Ending {
            stop: stop.clone(),
            closed: closed.clone(),
            subscriptions: subscriptions.clone(),
            limits: Arc::clone(&limits),
        };
        tokio::spawn(supervisor::run(
            config.clone(),
            events.clone(),
            state_tx,
            session,
            next,
            ending,
        ));
        tracing::debug!(broker = %config, "connected");

        let driver = Self {
            config,
            events,
            state,
            waiting: AtomicUsize::new(0),
            _stop_guard: stop.clone().drop_guard(),
            stop,
            closed,
            subscriptions,
            stopping: TaskTracker::new(),
            limits,
        };
        let durability = driver.config.queue_durability();
        Ok(Transport::assemble(Arc::new(driver), hub).with_queue_durability(durability))
    }

    /// The live session; while reconnecting, waits for the next one as
    /// `patience` allows (else fails with the reason the last one ended).
    async fn session(&self, how: Publish) -> Result<Arc<Session>, RpcError> {
        let mut state = self.state.clone();
        let mut waiting = None;
        loop {
            if self.stop.is_cancelled() {
                return Err(RpcError::Closed);
            }
            let down = match &*state.borrow_and_update() {
                State::Up(session) => return Ok(Arc::clone(session)),
                State::Down { since, error } => {
                    format!(
                        "not connected to the broker (reconnecting for {:.1?}): {error}",
                        since.elapsed()
                    )
                }
            };
            let Some(limit) = how.wait_for_connection else {
                return Err(RpcError::Connection(down));
            };
            if waiting.is_none() {
                if self.waiting.fetch_add(1, Ordering::Relaxed) >= limit {
                    self.waiting.fetch_sub(1, Ordering::Relaxed);
                    return Err(RpcError::Overloaded { limit });
                }
                waiting = Some(Waiting(&self.waiting));
            }
            match tokio::time::timeout_at(how.deadline.into(), state.changed()).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) => return Err(RpcError::Closed),
                Err(_) => return Err(RpcError::Connection(down)),
            }
        }
    }

    /// How a declaration or a question to the broker waits: not for a
    /// reconnect.
    fn question(&self) -> Publish {
        Publish {
            deadline: std::time::Instant::now() + self.config.connect_timeout(),
            wait_for_connection: None,
            settle: Settle::None,
        }
    }
}

impl Driver for AmqpDriver {
    fn publish<'a>(
        &'a self,
        to: &'a Destination,
        message: Message,
        how: Publish,
    ) -> BoxFuture<'a, Result<Confirm, RpcError>> {
        Box::pin(self.send(to, message, how))
    }

    fn subscribe(&self, spec: Subscribe) -> BoxFuture<'_, Result<Listener, RpcError>> {
        Box::pin(subscription::start(
            self.state.clone(),
            self.config.clone(),
            spec,
            (&self.subscriptions, &self.stopping),
            Arc::clone(&self.limits),
        ))
    }

    fn declare(&self, spec: Subscribe) -> BoxFuture<'_, Result<(), RpcError>> {
        Box::pin(async move {
            let session = self.session(self.question()).await?;
            let control = self.config.control();
            session
                .admin
                .run(|c| async move {
                    let rabbit = &self.config.rabbit_queues;
                    declare::source(&c, &control, &spec, None, rabbit).await
                })
                .await
                .map(|_ready| ())
                .map_err(|(error, reason)| {
                    refusal::explained(error, reason.as_deref(), session.link.identity())
                })
        })
    }

    fn reply_address(&self, how: Publish) -> BoxFuture<'_, Result<String, RpcError>> {
        Box::pin(async move {
            let session = self.session(how).await?;
            Ok(session.reply_queue(&self.events).await?.name().to_owned())
        })
    }

    fn ready_reply_address(&self) -> Option<String> {
        if self.stop.is_cancelled() {
            return None;
        }
        match &*self.state.borrow() {
            State::Up(session) => session.ready_reply_queue().map(|q| q.name().to_owned()),
            State::Down { .. } => None,
        }
    }

    fn max_message_size(&self) -> Option<usize> {
        self.limits
            .max_message_size()
            .map(|size| usize::try_from(size).unwrap_or(usize::MAX))
    }

    fn blocked(&self) -> Option<String> {
        match &*self.state.borrow() {
            State::Up(session) => session.link.health().blocked(),
            State::Down { .. } => None,
        }
    }

    fn peer(&self) -> Peer {
        let broker = match &*self.state.borrow() {
            State::Up(session) => Some(format!(
                "{}:{}",
                session.endpoint.host(),
                session.endpoint.port()
            )),
            State::Down { .. } => None,
        };
        Peer {
            system: Some("rabbitmq"),
            exchange: Some(self.config.exchange().to_owned()),
            broker,
        }
    }

    fn queue_status(&self, name: &str) -> BoxFuture<'_, Result<Option<QueueStatus>, RpcError>> {
        let name = name.to_owned();
        Box::pin(async move {
            let session = self.session(self.question()).await?;
            session.admin.queue_status(&name).await
        })
    }

    fn exchange_exists(&self, name: &str) -> BoxFuture<'_, Result<bool, RpcError>> {
        let name = name.to_owned();
        Box::pin(async move {
            let session = self.session(self.question()).await?;
            session.admin.exchange_exists(&name).await
        })
    }

    fn close(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            // Servers stopped just before (a process shutting down) may
            // still be removing their queues: thousands take the broker a
            // few seconds.
            self.stopping.close();
            let _ = tokio::time::timeout(LETTING_GO, self.stopping.wait()).await;
            self.closed.cancel();
            self.stop.cancel();
            let last = self.state.borrow().clone();
            if let State::Up(session) = last {
                session.end("the transport was closed");
                session.link.close_now().await;
            }
        })
    }
}

/// How long closing waits for stopped subscriptions to let go.
const LETTING_GO: std::time::Duration = std::time::Duration::from_secs(30);

impl fmt::Debug for AmqpDriver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AmqpDriver")
            .field("config", &self.config)
            .field("connected", &matches!(&*self.state.borrow(), State::Up(_)))
            .finish_non_exhaustive()
    }
}
