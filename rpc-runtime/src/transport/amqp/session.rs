//! One live broker connection and the channels the transport uses on it.
//! When the connection is lost the supervisor ([`super::supervisor`])
//! replaces the whole session.

use amqprs::channel::Channel;
use amqprs::connection::{Connection, OpenConnectionArguments};
use tokio::sync::{Mutex, MutexGuard, OnceCell};

use super::callback::open_channel;
use super::config::{AmqpConfig, Endpoint};
use super::declare;
use super::direct::DirectPublisher;
use super::publisher::Publisher;
use super::replies::ReplyQueue;
use crate::error::RpcError;
use crate::pending::PendingCalls;

/// A connection with its publishers, a channel for declarations, and (once a
/// call needs it) a reply queue.
pub(super) struct Session {
    pub(super) connection: Connection,
    pub(super) publisher: Publisher,
    /// Fanout casts get their own channel: the broker closes a channel that
    /// publishes to a vanished exchange, and that must not fail other work.
    pub(super) fanout_publisher: Publisher,
    /// Unconfirmed, mandatory: call requests and replies.
    pub(super) direct: DirectPublisher,
    admin: Mutex<Channel>,
    replies: OnceCell<ReplyQueue>,
}

impl Session {
    /// Connects to `endpoint` and sets the session up.
    pub(super) async fn open(
        config: &AmqpConfig,
        endpoint: &Endpoint,
        pending: &std::sync::Arc<PendingCalls>,
    ) -> Result<Self, RpcError> {
        let mut args = OpenConnectionArguments::new(
            endpoint.host(),
            endpoint.port(),
            endpoint.username(),
            endpoint.password().expose(),
        );
        args.virtual_host(config.vhost())
            .heartbeat(config.heartbeat());
        if let Some(name) = config.name() {
            args.connection_name(name);
        }
        if let Some(tls) = config.tls_options() {
            args.tls_adaptor(tls.adaptor(endpoint.host())?);
        }
        let timeout = config.connect_timeout();
        let connection = tokio::time::timeout(timeout, Connection::open(&args))
            .await
            .map_err(|_| {
                RpcError::Connection(format!(
                    "cannot connect to {endpoint}: no answer within {timeout:?}"
                ))
            })?
            .map_err(|e| RpcError::Connection(format!("cannot connect to {endpoint}: {e}")))?;
        let publisher = Publisher::open(&connection).await?;
        let fanout_publisher = Publisher::open(&connection).await?;
        let direct = DirectPublisher::open(&connection, pending).await?;
        let (admin, _events) = open_channel(&connection).await?;
        declare::control_exchange(&admin, &config.control()).await?;
        Ok(Self {
            connection,
            publisher,
            fanout_publisher,
            direct,
            admin: Mutex::new(admin),
            replies: OnceCell::new(),
        })
    }

    /// The channel for declarations, reopened if a failed declaration closed it.
    pub(super) async fn admin(&self) -> Result<MutexGuard<'_, Channel>, RpcError> {
        let mut admin = self.admin.lock().await;
        if !admin.is_open() {
            *admin = open_channel(&self.connection).await?.0;
        }
        Ok(admin)
    }

    /// The reply queue, declared on first use.
    pub(super) async fn reply_queue(
        &self,
        pending: &std::sync::Arc<PendingCalls>,
    ) -> Result<&ReplyQueue, RpcError> {
        self.replies
            .get_or_try_init(|| ReplyQueue::start(&self.connection, std::sync::Arc::clone(pending)))
            .await
    }

    /// Fails what the publishers have not had confirmed (the connection is gone).
    pub(super) fn fail(&self, reason: &str) {
        self.publisher.fail(reason);
        self.fanout_publisher.fail(reason);
    }
}
