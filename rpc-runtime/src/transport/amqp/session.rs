//! One live broker connection and the channels the transport uses on it.
//! When the connection is lost or condemned, the supervisor
//! ([`super::supervisor`]) replaces the whole session.

use std::sync::Arc;
use std::time::Duration;

use amqprs::connection::OpenConnectionArguments;
use tokio::sync::OnceCell;
use tokio::time::Instant;

use super::admin::Admin;
use super::checks::QueueChecks;
use super::config::AmqpConfig;
use super::declare;
use super::direct::DirectPublisher;
use super::endpoint::Endpoint;
use super::handshake;
use super::limits::Limits;
use super::publisher::Publisher;
use super::refusal::{Identity, explained};
use super::replies::ReplyQueue;
use super::seats::Seats;
use super::shield::Link;
use crate::error::RpcError;
use crate::transport::driver::Events;

/// A connection with its publishers, a channel for declarations, and (once a
/// call needs it) a reply queue. Every channel is opened on first use: a
/// transport that only serves opens no publishing channel until it replies,
/// and one that never sends a fanout cast never opens that channel.
pub(super) struct Session {
    pub(super) link: Link,
    /// The broker this session is connected to.
    pub(super) endpoint: Endpoint,
    /// Confirmed, mandatory: casts and the requests of calls.
    publisher: OnceCell<Publisher>,
    /// Fanout casts get their own channel: the broker closes a channel that
    /// publishes to a vanished exchange, and that must not fail other work.
    fanout_publisher: OnceCell<Publisher>,
    /// Messages over [`LARGE`] go one at a time on a channel of their own
    /// (opened when the first is sent): a broker whose `max_message_size`
    /// they pass closes the channel, and that fails only the one message.
    large_publisher: OnceCell<Publisher>,
    /// The broker's limits, as learned.
    pub(super) limits: Arc<Limits>,
    /// When it replaced a lost session (not for the first).
    pub(super) reconnected_at: Option<Instant>,
    /// Unconfirmed, mandatory: replies and heartbeats.
    direct: OnceCell<DirectPublisher>,
    /// Declarations and questions to the broker.
    pub(super) admin: Arc<Admin>,
    /// The channels servers and listeners consume on.
    pub(super) seats: Seats,
    /// Whether the consumed queues still exist.
    pub(super) checks: Arc<QueueChecks>,
    replies: OnceCell<ReplyQueue>,
}

impl Session {
    /// Connects to `endpoint` and sets the session up.
    pub(super) async fn open(
        config: &AmqpConfig,
        endpoint: &Endpoint,
        limits: &Arc<Limits>,
    ) -> Result<Self, RpcError> {
        let link = connect(config, endpoint).await?;
        let session = Self::set_up(link.clone(), config, endpoint, limits).await;
        if session.is_err() {
            link.close();
        }
        session
    }

    async fn set_up(
        link: Link,
        config: &AmqpConfig,
        endpoint: &Endpoint,
        limits: &Arc<Limits>,
    ) -> Result<Self, RpcError> {
        let admin = Arc::new(Admin::new(&link));
        let limits = Arc::clone(limits);
        let control = config.control();
        admin
            .run(|c| async move { declare::control_exchange(&c, &control).await })
            .await
            .map_err(|(error, reason)| explained(error, reason.as_deref(), link.identity()))?;
        Ok(Self {
            seats: Seats::new(&link),
            link,
            endpoint: endpoint.clone(),
            publisher: OnceCell::new(),
            fanout_publisher: OnceCell::new(),
            large_publisher: OnceCell::new(),
            limits,
            reconnected_at: None,
            direct: OnceCell::new(),
            checks: QueueChecks::start(&admin),
            admin,
            replies: OnceCell::new(),
        })
    }

    /// Whether it replaced a lost session less than [`REBINDING`] ago: the
    /// broker may have lost bindings (a non-durable exchange after a
    /// whole-cluster restart) that servers are declaring again.
    pub(super) fn is_rebinding(&self) -> bool {
        self.reconnected_at
            .is_some_and(|at| at.elapsed() < REBINDING)
    }

    /// The publisher for a message of `size` bytes going to a fanout
    /// exchange or not; a large one's channel is opened on first use.
    pub(super) async fn publisher_for(
        &self,
        size: usize,
        fanout: bool,
    ) -> Result<&Publisher, RpcError> {
        if size > LARGE {
            let open = || Publisher::open(&self.link, None, Arc::clone(&self.limits), true);
            return self.large_publisher.get_or_try_init(open).await;
        }
        if fanout {
            let open = || Publisher::open(&self.link, None, Arc::clone(&self.limits), false);
            self.fanout_publisher.get_or_try_init(open).await
        } else {
            let admin = Some(Arc::clone(&self.admin));
            let open = || Publisher::open(&self.link, admin, Arc::clone(&self.limits), false);
            self.publisher.get_or_try_init(open).await
        }
    }

    /// The publisher of replies and heartbeats, opened on first use.
    pub(super) async fn direct(&self) -> Result<&DirectPublisher, RpcError> {
        self.direct
            .get_or_try_init(|| DirectPublisher::open(&self.link))
            .await
    }

    /// The reply queue, declared on first use. (Safe to abandon half-way:
    /// the broker operations are shielded, and the next caller starts over.)
    pub(super) async fn reply_queue(&self, events: &Events) -> Result<&ReplyQueue, RpcError> {
        self.replies
            .get_or_try_init(|| ReplyQueue::start(&self.link, events.clone()))
            .await
    }

    /// The reply queue, if it is started.
    pub(super) fn ready_reply_queue(&self) -> Option<&ReplyQueue> {
        self.replies.get()
    }

    /// Since when the oldest publish waits for its confirm, if one does.
    pub(super) fn oldest_unconfirmed(&self) -> Option<Instant> {
        [
            &self.publisher,
            &self.fanout_publisher,
            &self.large_publisher,
        ]
        .into_iter()
        .filter_map(OnceCell::get)
        .filter_map(Publisher::oldest_unconfirmed)
        .min()
    }

    /// Ends the session: what the publishers have not had confirmed fails,
    /// and everything bound to the session stops. (The caller closes the
    /// connection.)
    pub(super) fn end(&self, reason: &str) {
        self.link.health().condemn(reason);
        let publishers = [
            &self.publisher,
            &self.fanout_publisher,
            &self.large_publisher,
        ];
        for publisher in publishers.into_iter().filter_map(OnceCell::get) {
            publisher.fail(reason);
        }
    }
}

/// Opens a connection to `endpoint` within the configured timeout; a broker
/// that refuses it (credentials, vhost) is named as the reason.
pub(super) async fn connect(config: &AmqpConfig, endpoint: &Endpoint) -> Result<Link, RpcError> {
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
    let tls = match config.tls_options() {
        Some(tls) => {
            args.tls_adaptor(tls.adaptor(endpoint.host())?);
            Some(tls.connector(endpoint.host())?)
        }
        None => None,
    };
    let timeout = config.connect_timeout();
    let failed = |error: amqprs::error::Error| {
        RpcError::Connection(format!("cannot connect to {endpoint}: {error}"))
    };
    // A refused login makes RabbitMQ wait 3 s before it drops a client that
    // (like amqprs) does not ask to be told why; the handshake check asks.
    // It runs beside a connection slow to open, or after one that failed.
    let who = Identity {
        user: endpoint.username().to_owned(),
        vhost: config.vhost().to_owned(),
    };
    let opening = Link::open(args, timeout, who);
    tokio::pin!(opening);
    let slow = tokio::time::sleep(CHECK_AFTER.min(timeout));
    tokio::select! {
        opened = &mut opening => {
            return match opened {
                Ok(link) => Ok(link),
                Err(error) => Err(handshake::check(config, endpoint, tls.as_ref(), timeout)
                    .await
                    .err()
                    .unwrap_or_else(|| failed(error))),
            };
        }
        () = slow => {}
    }
    let check = handshake::check(config, endpoint, tls.as_ref(), timeout);
    tokio::pin!(check);
    let mut checked = false;
    loop {
        tokio::select! {
            opened = &mut opening => {
                return match opened {
                    Ok(link) => Ok(link),
                    Err(error) if checked => Err(failed(error)),
                    Err(error) => Err((&mut check).await.err().unwrap_or_else(|| failed(error))),
                };
            }
            result = &mut check, if !checked => {
                checked = true;
                result?;
            }
        }
    }
}

/// How long after a reconnect a message nobody could route is sent again
/// (within its deadline) instead of failing as undeliverable: servers
/// reconnect too, and bind their queues again.
pub(super) const REBINDING: Duration = Duration::from_secs(10);

/// A message larger than this (1 MiB) is sent on the session's channel for
/// large messages: RabbitMQ's `max_message_size` can be set that low, and
/// a message over it closes the channel it was sent on.
pub(super) const LARGE: usize = 1024 * 1024;

/// How long a connection may take to open before the handshake check runs
/// beside it.
const CHECK_AFTER: Duration = Duration::from_millis(300);
