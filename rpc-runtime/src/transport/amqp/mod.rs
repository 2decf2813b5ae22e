//! The AMQP 0-9-1 transport, over amqprs.
//!
//! An `AmqpDriver` keeps one `Session` (a broker connection with a
//! confirm-mode publishing channel for casts and call requests, one for
//! fanout casts, one for replies, one for declarations, and a reply queue
//! once a call needs it) and a supervisor that replaces the session when
//! the connection is lost or found useless. Servers and listeners consume
//! through subscriptions, which follow the sessions. Requests are published
//! `mandatory`, so a destination nobody listens on fails at once instead of
//! timing out. Every call into amqprs goes through [`shield`].

mod admin;
mod callback;
mod config;
mod consumer;
mod declare;
mod direct;
mod drain;
mod handshake;
mod health;
mod props;
mod publisher;
mod replies;
mod session;
mod shield;
mod subscription;
mod supervisor;
mod tls;

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::{oneshot, watch};
use tokio_util::sync::{CancellationToken, DropGuard};

pub use config::{AmqpConfig, DEFAULT_CONNECTION_TIMEOUT, DEFAULT_CONTROL_EXCHANGE, Endpoint};
pub use tls::TlsOptions;

use self::publisher::Settle;
use self::session::Session;
use self::subscription::Setup;
use self::supervisor::State;
use crate::error::RpcError;
use crate::message::Message;
use crate::pending::{PendingCall, PendingCalls};
use crate::topology;
use crate::transport::{
    BoxFuture, Confirm, Destination, Driver, ListenSpec, Listener, Patience, QueueSpec, Transport,
};
use crate::wire::WireFormat;

/// The AMQP implementation of [`Driver`].
pub(crate) struct AmqpDriver {
    config: AmqpConfig,
    pending: Arc<PendingCalls>,
    /// Seals what this transport publishes.
    wire: Arc<dyn WireFormat>,
    state: watch::Receiver<State>,
    /// Senders waiting for a session while the transport reconnects.
    waiting: AtomicUsize,
    stop: CancellationToken,
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
        let wire = config.wire_format().format(config.max_size());
        let pending = Arc::new(PendingCalls::new(Arc::clone(&wire)));
        let (session, next) = supervisor::connect_any(&config, 0).await?;
        let session = Arc::new(session);
        let (state_tx, state) = watch::channel(State::Up(Arc::clone(&session)));
        let stop = CancellationToken::new();
        tokio::spawn(supervisor::run(
            config.clone(),
            Arc::clone(&pending),
            state_tx,
            session,
            next,
            stop.clone(),
        ));
        tracing::debug!(broker = %config, "connected");
        let driver = Self {
            config,
            pending,
            wire: Arc::clone(&wire),
            state,
            waiting: AtomicUsize::new(0),
            _stop_guard: stop.clone().drop_guard(),
            stop,
        };
        Ok(Transport::from_parts(Arc::new(driver), wire))
    }

    /// The live session; while reconnecting, waits for the next one as
    /// `patience` allows (else fails with the reason the last one ended).
    async fn session(&self, patience: Patience) -> Result<Arc<Session>, RpcError> {
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
            let Some(limit) = patience.wait else {
                return Err(RpcError::Connection(down));
            };
            if waiting.is_none() {
                if self.waiting.fetch_add(1, Ordering::Relaxed) >= limit {
                    self.waiting.fetch_sub(1, Ordering::Relaxed);
                    return Err(RpcError::Overloaded { limit });
                }
                waiting = Some(Waiting(&self.waiting));
            }
            match tokio::time::timeout_at(patience.deadline, state.changed()).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) => return Err(RpcError::Closed),
                Err(_) => return Err(RpcError::Connection(down)),
            }
        }
    }

    /// The exchange and routing key of a destination, and whether the key
    /// names a queue.
    async fn route(
        &self,
        session: &Session,
        destination: &Destination,
    ) -> Result<(String, String, bool), RpcError> {
        let exchange = self.config.exchange();
        Ok(match destination {
            Destination::Topic { topic } => {
                (exchange.to_owned(), topology::topic_queue(topic), true)
            }
            Destination::Server { topic, server } => (
                exchange.to_owned(),
                topology::server_queue(topic, server),
                true,
            ),
            Destination::Fanout { topic } => {
                // Servers declare it; it is auto-deleted with the topic's
                // last server. Checked (passively, so a typo creates
                // nothing) before each fanout cast: publishing to a missing
                // exchange would close the channel.
                let name = topology::fanout_exchange(topic);
                if !session.admin.exchange_exists(&name).await? {
                    return Err(RpcError::Undeliverable {
                        exchange: name,
                        routing_key: String::new(),
                    });
                }
                (name, String::new(), false)
            }
            Destination::RoutingKey { key } => (exchange.to_owned(), key.clone(), false),
            Destination::Queue { name } => (String::new(), name.clone(), true),
        })
    }
}

impl Driver for AmqpDriver {
    fn call(
        &self,
        destination: Destination,
        mut message: Message,
        patience: Patience,
    ) -> BoxFuture<'_, Result<PendingCall, RpcError>> {
        Box::pin(async move {
            let session = self.session(patience).await?;
            let (exchange, routing_key, names_queue) = self.route(&session, &destination).await?;
            let reply_to = session.reply_queue(&self.pending).await?.name().to_owned();
            let call = self.pending.register();
            message.correlation_id = Some(call.correlation_id());
            message.reply_to = Some(reply_to);
            let message = self.wire.seal(message)?;
            // Confirmed, but not awaited: the reply says more. A refused or
            // returned request fails the call at once.
            let settle = Settle::Call(call.id(), Arc::clone(&self.pending));
            session
                .publisher
                .publish(&exchange, &routing_key, message, settle, names_queue)
                .await?;
            Ok(call)
        })
    }

    fn cast(
        &self,
        destination: Destination,
        message: Message,
        patience: Patience,
    ) -> BoxFuture<'_, Result<Confirm, RpcError>> {
        Box::pin(async move {
            let session = self.session(patience).await?;
            let (exchange, routing_key, names_queue) = self.route(&session, &destination).await?;
            let message = self.wire.seal(message)?;
            let publisher = match destination {
                Destination::Fanout { .. } => &session.fanout_publisher,
                _ => &session.publisher,
            };
            let (done, confirmed) = oneshot::channel();
            publisher
                .publish(
                    &exchange,
                    &routing_key,
                    message,
                    Settle::Wait(done),
                    names_queue,
                )
                .await?;
            Ok(Confirm::Pending(confirmed))
        })
    }

    fn listen(&self, spec: ListenSpec) -> BoxFuture<'_, Result<Listener, RpcError>> {
        let prefetch = spec.prefetch;
        Box::pin(subscription::start(
            self.state.clone(),
            self.config.clone(),
            Setup::Server(spec),
            prefetch,
        ))
    }

    fn declare_queue(&self, spec: QueueSpec) -> BoxFuture<'_, Result<(), RpcError>> {
        Box::pin(async move {
            let patience = Patience {
                deadline: tokio::time::Instant::now() + self.config.connect_timeout(),
                wait: None,
            };
            let session = self.session(patience).await?;
            let control = self.config.control();
            session
                .admin
                .run(|c| async move { declare::queue(&c, &control, &spec).await })
                .await
                .map(|_ready| ())
                .map_err(|(error, _)| error)
        })
    }

    fn consume(
        &self,
        queues: Vec<QueueSpec>,
        prefetch: u16,
    ) -> BoxFuture<'_, Result<Listener, RpcError>> {
        Box::pin(subscription::start(
            self.state.clone(),
            self.config.clone(),
            Setup::Queues(queues),
            prefetch,
        ))
    }

    fn reply(&self, reply_to: String, message: Message) -> BoxFuture<'_, Result<(), RpcError>> {
        Box::pin(async move {
            let current = self.state.borrow().clone();
            let State::Up(session) = current else {
                return Err(RpcError::Connection(
                    "not connected to the broker; the reply is lost".into(),
                ));
            };
            let message = self.wire.seal(message)?;
            session.direct.publish("", &reply_to, message).await
        })
    }

    fn close(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            self.stop.cancel();
            self.pending.fail_all(&RpcError::Closed);
            let last = self.state.borrow().clone();
            if let State::Up(session) = last {
                session.end("the transport was closed");
                session.link.close_now().await;
            }
        })
    }

    fn pending_calls(&self) -> usize {
        self.pending.len()
    }
}

impl fmt::Debug for AmqpDriver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AmqpDriver")
            .field("config", &self.config)
            .field("connected", &matches!(&*self.state.borrow(), State::Up(_)))
            .field("pending_calls", &self.pending.len())
            .finish_non_exhaustive()
    }
}
