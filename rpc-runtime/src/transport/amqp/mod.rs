//! The AMQP 0-9-1 transport, over amqprs.
//!
//! An `AmqpDriver` keeps one `Session` (a broker connection
//! with a confirm-mode publishing channel, one for fanout casts, one for
//! declarations, and a reply queue once a call needs it) and a supervisor
//! that replaces the session when the connection is lost. Servers and
//! listeners consume through subscriptions, which follow the sessions.
//! Requests are published `mandatory`, so a destination nobody listens on
//! fails at once instead of timing out.

mod callback;
mod config;
mod consumer;
mod declare;
mod direct;
mod props;
mod publisher;
mod replies;
mod session;
mod subscription;
mod supervisor;
mod tls;

use std::fmt;
use std::sync::Arc;

use tokio::sync::watch;
use tokio_util::sync::{CancellationToken, DropGuard};

pub use config::{AmqpConfig, DEFAULT_CONNECTION_TIMEOUT, DEFAULT_CONTROL_EXCHANGE, Endpoint};
pub use tls::TlsOptions;

use self::session::Session;
use self::subscription::Setup;
use crate::error::RpcError;
use crate::message::Message;
use crate::pending::{PendingCall, PendingCalls};
use crate::topology;
use crate::transport::{
    BoxFuture, Destination, Driver, ListenSpec, Listener, QueueSpec, Transport,
};
use crate::wire::WireFormat;

/// The AMQP implementation of [`Driver`].
pub(crate) struct AmqpDriver {
    config: AmqpConfig,
    pending: Arc<PendingCalls>,
    /// Seals what this transport publishes.
    wire: Arc<dyn WireFormat>,
    sessions: watch::Receiver<Option<Arc<Session>>>,
    stop: CancellationToken,
    /// Stops the supervisor when the driver goes, which closes the connection.
    _stop_guard: DropGuard,
}

impl AmqpDriver {
    /// Connects (to the first broker of the URL that answers) and returns a
    /// [`Transport`] that stays connected.
    pub(crate) async fn connect(config: AmqpConfig) -> Result<Transport, RpcError> {
        topology::check_name("control exchange", config.exchange())?;
        let wire = config.wire_format().format(config.max_size());
        let pending = Arc::new(PendingCalls::new(Arc::clone(&wire)));
        let (session, next) = supervisor::connect_any(&config, 0, &pending).await?;
        let session = Arc::new(session);
        let (sessions_tx, sessions) = watch::channel(Some(Arc::clone(&session)));
        let stop = CancellationToken::new();
        tokio::spawn(supervisor::run(
            config.clone(),
            Arc::clone(&pending),
            sessions_tx,
            session,
            next,
            stop.clone(),
        ));
        tracing::debug!(broker = %config, "connected");
        let driver = Self {
            config,
            pending,
            wire: Arc::clone(&wire),
            sessions,
            _stop_guard: stop.clone().drop_guard(),
            stop,
        };
        Ok(Transport::from_parts(Arc::new(driver), wire))
    }

    /// The live session, or an error while reconnecting.
    fn session(&self) -> Result<Arc<Session>, RpcError> {
        if self.stop.is_cancelled() {
            return Err(RpcError::Closed);
        }
        self.sessions
            .borrow()
            .clone()
            .ok_or_else(|| RpcError::Connection("not connected to the broker; reconnecting".into()))
    }

    /// The exchange and routing key of a destination.
    async fn route(
        &self,
        session: &Session,
        destination: &Destination,
    ) -> Result<(String, String), RpcError> {
        let exchange = self.config.exchange();
        Ok(match destination {
            Destination::Topic { topic } => (exchange.to_owned(), topology::topic_queue(topic)),
            Destination::Server { topic, server } => {
                (exchange.to_owned(), topology::server_queue(topic, server))
            }
            Destination::Fanout { topic } => {
                // Servers declare it; it is auto-deleted with the topic's
                // last server. Checked (passively, so a typo creates
                // nothing) before each fanout cast: publishing to a missing
                // exchange would close the channel.
                let name = topology::fanout_exchange(topic);
                if !declare::exchange_exists(&*session.admin().await?, &name).await {
                    return Err(RpcError::Undeliverable {
                        exchange: name,
                        routing_key: String::new(),
                    });
                }
                (name, String::new())
            }
            Destination::RoutingKey { key } => (exchange.to_owned(), key.clone()),
            Destination::Queue { name } => (String::new(), name.clone()),
        })
    }
}

impl Driver for AmqpDriver {
    fn call(
        &self,
        destination: Destination,
        mut message: Message,
    ) -> BoxFuture<'_, Result<PendingCall, RpcError>> {
        Box::pin(async move {
            let session = self.session()?;
            let (exchange, routing_key) = self.route(&session, &destination).await?;
            let reply_to = session.reply_queue(&self.pending).await?.name().to_owned();
            let call = self.pending.register();
            message.correlation_id = Some(call.correlation_id());
            message.reply_to = Some(reply_to);
            let message = self.wire.seal(message)?;
            // No confirm: the reply says more. A returned request fails the
            // call through the pending table.
            session
                .direct
                .publish(&exchange, &routing_key, message)
                .await?;
            Ok(call)
        })
    }

    fn cast(
        &self,
        destination: Destination,
        message: Message,
    ) -> BoxFuture<'_, Result<(), RpcError>> {
        Box::pin(async move {
            let session = self.session()?;
            let (exchange, routing_key) = self.route(&session, &destination).await?;
            let message = self.wire.seal(message)?;
            let publisher = match destination {
                Destination::Fanout { .. } => &session.fanout_publisher,
                _ => &session.publisher,
            };
            publisher
                .publish(&exchange, &routing_key, message, true)
                .await
        })
    }

    fn listen(&self, spec: ListenSpec) -> BoxFuture<'_, Result<Listener, RpcError>> {
        let prefetch = spec.prefetch;
        let exchange = self.config.control();
        Box::pin(subscription::start(
            self.sessions.clone(),
            exchange,
            Setup::Server(spec),
            prefetch,
        ))
    }

    fn declare_queue(&self, spec: QueueSpec) -> BoxFuture<'_, Result<(), RpcError>> {
        Box::pin(async move {
            let session = self.session()?;
            declare::queue(&*session.admin().await?, &self.config.control(), &spec).await
        })
    }

    fn consume(
        &self,
        queues: Vec<QueueSpec>,
        prefetch: u16,
    ) -> BoxFuture<'_, Result<Listener, RpcError>> {
        let exchange = self.config.control();
        Box::pin(subscription::start(
            self.sessions.clone(),
            exchange,
            Setup::Queues(queues),
            prefetch,
        ))
    }

    fn reply(&self, reply_to: String, message: Message) -> BoxFuture<'_, Result<(), RpcError>> {
        Box::pin(async move {
            let session = self.session()?;
            let message = self.wire.seal(message)?;
            session.direct.publish("", &reply_to, message).await
        })
    }

    fn close(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            self.stop.cancel();
            self.pending.fail_all(&RpcError::Closed);
            let session = self.sessions.borrow().clone();
            if let Some(session) = session {
                session.fail("the transport was closed");
                if let Err(error) = session.connection.clone().close().await {
                    tracing::debug!(%error, "closing the AMQP connection");
                }
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
            .field("connected", &self.sessions.borrow().is_some())
            .field("pending_calls", &self.pending.len())
            .finish_non_exhaustive()
    }
}
