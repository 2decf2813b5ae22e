//! The AMQP 0-9-1 transport, over amqprs.
//!
//! One [`AmqpDriver`] owns one broker connection with a channel per role: a
//! confirm-mode publishing channel ([`publisher`]), the reply queue's consumer
//! ([`replies`]), a channel for declarations, and one channel per server
//! listening on it ([`listener`]). Requests are published `mandatory`, so a
//! destination nobody listens on fails at once instead of timing out.

mod callback;
mod config;
mod listener;
mod props;
mod publisher;
mod replies;

use std::fmt;
use std::sync::Arc;

use amqprs::channel::Channel;
use amqprs::connection::{Connection, OpenConnectionArguments};
use tokio::sync::OnceCell;

pub use config::{AmqpConfig, DEFAULT_CONTROL_EXCHANGE};

use self::callback::open_channel;
use self::publisher::Publisher;
use self::replies::ReplyQueue;
use crate::codec::{AnyCodec, Bincode};
use crate::error::RpcError;
use crate::message::Message;
use crate::pending::{PendingCall, PendingCalls};
use crate::topology;
use crate::transport::{
    BoxFuture, Destination, Driver, ListenSpec, Listener, QueueSpec, Transport,
};
use crate::wire::NativeWire;

/// The AMQP implementation of [`Driver`].
pub(crate) struct AmqpDriver {
    config: AmqpConfig,
    connection: Connection,
    publisher: Publisher,
    /// Fanout casts get their own channel: the broker closes a channel that
    /// publishes to a vanished exchange, and that must not fail other work.
    fanout_publisher: Publisher,
    admin: tokio::sync::Mutex<Channel>,
    replies: OnceCell<ReplyQueue>,
    pending: Arc<PendingCalls>,
    /// Stops the connection watcher, so dropping the driver closes the
    /// connection (the watcher holds a handle on it).
    _stop: tokio_util::sync::DropGuard,
}

impl AmqpDriver {
    /// Connects and returns a [`Transport`] over the new connection.
    pub(crate) async fn connect(config: AmqpConfig) -> Result<Transport, RpcError> {
        topology::check_name("control exchange", config.exchange())?;
        let mut args = OpenConnectionArguments::new(
            config.host(),
            config.port(),
            config.username(),
            config.password().expose(),
        );
        args.virtual_host(config.vhost())
            .heartbeat(config.heartbeat());
        if let Some(name) = config.name() {
            args.connection_name(name);
        }
        let connection = Connection::open(&args)
            .await
            .map_err(|e| RpcError::Connection(format!("cannot connect to {config}: {e}")))?;
        let publisher = Publisher::open(&connection).await?;
        let fanout_publisher = Publisher::open(&connection).await?;
        let (admin, _events) = open_channel(&connection).await?;
        listener::declare_control_exchange(&admin, config.exchange()).await?;
        let pending = Arc::new(PendingCalls::default());
        let stop = tokio_util::sync::CancellationToken::new();
        let watcher = watch(
            connection.clone(),
            Arc::clone(&pending),
            [publisher.clone(), fanout_publisher.clone()],
        );
        let stopped = stop.clone();
        tokio::spawn(async move {
            tokio::select! {
                () = watcher => {}
                () = stopped.cancelled() => {}
            }
        });
        tracing::debug!(broker = %config, "connected");
        let codec = AnyCodec::Bincode(Bincode::with_max_size(config.max_size()));
        let driver = Self {
            config,
            connection,
            publisher,
            fanout_publisher,
            admin: tokio::sync::Mutex::new(admin),
            replies: OnceCell::new(),
            pending,
            _stop: stop.drop_guard(),
        };
        Ok(Transport::native(Arc::new(driver), NativeWire::new(codec)))
    }

    /// The exchange and routing key of a destination.
    async fn route(&self, destination: &Destination) -> Result<(String, String), RpcError> {
        let exchange = self.config.exchange();
        Ok(match destination {
            Destination::Topic { topic } => (exchange.to_owned(), topology::topic_queue(topic)),
            Destination::Server { topic, server } => {
                (exchange.to_owned(), topology::server_queue(topic, server))
            }
            Destination::Fanout { topic } => {
                self.declare_fanout(topic).await?;
                (topology::fanout_exchange(topic), String::new())
            }
            Destination::RoutingKey { key } => (exchange.to_owned(), key.clone()),
            Destination::Queue { name } => (String::new(), name.clone()),
        })
    }

    /// Declares a topic's fanout exchange before each fanout cast: it is
    /// auto-deleted when the topic's last server goes, and publishing to a
    /// missing exchange would close the publishing channel with a 404.
    async fn declare_fanout(&self, topic: &str) -> Result<(), RpcError> {
        let mut admin = self.admin.lock().await;
        if !admin.is_open() {
            *admin = open_channel(&self.connection).await?.0;
        }
        listener::declare_fanout_exchange(&admin, topic).await
    }

    async fn reply_queue(&self) -> Result<&ReplyQueue, RpcError> {
        self.replies
            .get_or_try_init(|| ReplyQueue::start(&self.connection, Arc::clone(&self.pending)))
            .await
    }
}

/// Fails everything in flight when the connection drops.
async fn watch(connection: Connection, pending: Arc<PendingCalls>, publishers: [Publisher; 2]) {
    let network_failure = connection.listen_network_io_failure().await;
    let reason = if network_failure {
        "connection to the broker lost"
    } else {
        "connection to the broker closed"
    };
    tracing::warn!(reason, "AMQP connection ended");
    pending.fail_all(&RpcError::Connection(reason.to_owned()));
    for publisher in publishers {
        publisher.fail(reason);
    }
}

impl Driver for AmqpDriver {
    fn call(
        &self,
        destination: Destination,
        mut message: Message,
    ) -> BoxFuture<'_, Result<PendingCall, RpcError>> {
        Box::pin(async move {
            let (exchange, routing_key) = self.route(&destination).await?;
            let reply_to = self.reply_queue().await?.name().to_owned();
            let call = self.pending.register();
            message.correlation_id = Some(call.correlation_id());
            message.reply_to = Some(reply_to);
            // The reply may arrive before the confirm; it waits in the call.
            self.publisher
                .publish(&exchange, &routing_key, message, true)
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
            let (exchange, routing_key) = self.route(&destination).await?;
            let publisher = match destination {
                Destination::Fanout { .. } => &self.fanout_publisher,
                _ => &self.publisher,
            };
            publisher
                .publish(&exchange, &routing_key, message, true)
                .await
        })
    }

    fn listen(&self, spec: ListenSpec) -> BoxFuture<'_, Result<Listener, RpcError>> {
        Box::pin(listener::listen(
            &self.connection,
            self.config.exchange(),
            spec,
        ))
    }

    fn declare_queue(&self, spec: QueueSpec) -> BoxFuture<'_, Result<(), RpcError>> {
        Box::pin(async move {
            let mut admin = self.admin.lock().await;
            if !admin.is_open() {
                *admin = open_channel(&self.connection).await?.0;
            }
            listener::declare_queue(&admin, self.config.exchange(), &spec).await
        })
    }

    fn consume(
        &self,
        queues: Vec<String>,
        prefetch: u16,
    ) -> BoxFuture<'_, Result<Listener, RpcError>> {
        Box::pin(async move { listener::consume(&self.connection, &queues, prefetch).await })
    }

    fn reply(&self, reply_to: String, message: Message) -> BoxFuture<'_, Result<(), RpcError>> {
        Box::pin(async move { self.publisher.publish("", &reply_to, message, true).await })
    }

    fn pending_calls(&self) -> usize {
        self.pending.len()
    }

    fn close(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            self.pending.fail_all(&RpcError::Closed);
            if let Err(error) = self.connection.clone().close().await {
                tracing::debug!(%error, "closing the AMQP connection");
            }
        })
    }
}

impl fmt::Debug for AmqpDriver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AmqpDriver")
            .field("config", &self.config)
            .field("pending_calls", &self.pending.len())
            .finish_non_exhaustive()
    }
}
