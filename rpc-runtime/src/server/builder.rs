//! Collecting a server's services and options, and starting it.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::consumer::{AckMode, Serving};
use super::dispatch::Handler;
use super::running::Server;
use super::state::ServerState;
use crate::error::RpcError;
use crate::service::Service;
use crate::topology::{check_name, check_server_names};
use crate::transport::Transport;
use crate::transport::driver::{Durability, Source, Subscribe};

/// How many requests a server runs at once unless told otherwise.
pub const DEFAULT_CONCURRENCY: usize = 64;

/// How long a server's own queue outlives its last consumer on the native
/// wire unless told otherwise: oslo.messaging's `rabbit_transient_queues_ttl`
/// (30 minutes) for the queues its own processes leave behind. A server
/// restarted (or upgraded) within it finds the casts sent meanwhile; one
/// that never comes back leaves no queue collecting casts for good.
pub const DEFAULT_SERVER_QUEUE_EXPIRY: Duration = Duration::from_secs(30 * 60);

impl Server {
    /// A builder for a server named `server_name` (oslo's `Target.server`,
    /// usually the host name): it also listens on `<topic>.<server_name>`.
    pub fn builder(transport: &Transport, server_name: impl Into<String>) -> ServerBuilder {
        ServerBuilder {
            transport: transport.clone(),
            server_name: server_name.into(),
            concurrency: DEFAULT_CONCURRENCY,
            services: Vec::new(),
            stop_on: None,
            acks: AckMode::default(),
            durability: None,
            show_panics: false,
            expiry: None,
        }
    }
}

/// Collects the services a server will host; see [`Server::builder`].
pub struct ServerBuilder {
    transport: Transport,
    server_name: String,
    concurrency: usize,
    services: Vec<(String, Arc<dyn Service>)>,
    stop_on: Option<CancellationToken>,
    acks: AckMode,
    /// `None`: the transport's default (a `rabbit://` URL's
    /// `amqp_durable_queues` or `rabbit_quorum_queue`).
    durability: Option<Durability>,
    show_panics: bool,
    /// `None`: the wire's default (see [`ServerBuilder::server_queue_expiry`]).
    expiry: Option<Option<Duration>>,
}

impl ServerBuilder {
    /// Sends a manager's panic message to the caller inside
    /// [`RpcError::Internal`] (default: the caller learns only that the
    /// method panicked; the message goes to the server's log). For
    /// development: a panic message can carry anything the manager held.
    pub fn show_panics(mut self, show: bool) -> Self {
        self.show_panics = show;
        self
    }

    /// How many requests run at once across the server's services (default
    /// 64); also the broker prefetch of each of its queues.
    pub fn concurrency(mut self, requests: usize) -> Self {
        self.concurrency = requests.max(1);
        self
    }

    /// Stops consuming when `token` is cancelled (a signal handler's token,
    /// say); [`Server::wait`] then returns once the requests being handled
    /// are answered.
    pub fn stop_on(mut self, token: CancellationToken) -> Self {
        self.stop_on = Some(token);
        self
    }

    /// When casts are acked (default [`AckMode::OnReceipt`]).
    pub fn ack_mode(mut self, acks: AckMode) -> Self {
        self.acks = acks;
        self
    }

    /// Declares the topic and server queues durable, so casts waiting in
    /// them survive a broker restart (casts are always sent persistent).
    /// Every server of a topic must agree: RabbitMQ refuses to redeclare a
    /// queue with other flags.
    pub fn durable_queues(mut self, durable: bool) -> Self {
        self.durability = Some(if durable {
            Durability::Durable
        } else {
            Durability::Transient
        });
        self
    }

    /// Declares the topic and server queues as quorum queues (replicated,
    /// durable; `x-queue-type: quorum`). With a `delivery_limit`, the broker
    /// drops a message delivered that many times without an ack (a poison
    /// message). The per-server fanout queues stay exclusive classic queues.
    /// As with [`ServerBuilder::durable_queues`], all servers of a topic must
    /// agree, and an existing classic queue cannot become a quorum queue.
    pub fn quorum_queues(mut self, delivery_limit: Option<u32>) -> Self {
        self.durability = Some(Durability::Replicated { delivery_limit });
        self
    }

    /// How long the server's own queues (`<topic>.<server>`) outlive the
    /// last consumer before the broker deletes them (`x-expires`), so that
    /// a server that crashed leaves nothing behind; `None` keeps them for
    /// good. A server that stops cleanly removes them at once, if nothing
    /// waits in them and no other process consumes them.
    ///
    /// Default: [`DEFAULT_SERVER_QUEUE_EXPIRY`] on the native wire; none on
    /// oslo's wire, where Python servers declare the same queues without an
    /// expiry and RabbitMQ refuses a redeclaration with other arguments (a
    /// policy does it there: see the README). When the queue already exists
    /// without this expiry, the server uses it as it is and says so in its log.
    pub fn server_queue_expiry(mut self, expiry: Option<Duration>) -> Self {
        self.expiry = Some(expiry);
        self
    }

    /// Hosts `service` on the topic its trait declares.
    pub fn serve<S: Service>(self, service: S) -> Self {
        let topic = service.descriptor().topic.to_owned();
        self.serve_on(topic, service)
    }

    /// Hosts `service` on another topic than the one its trait declares.
    pub fn serve_on<S: Service>(mut self, topic: impl Into<String>, service: S) -> Self {
        self.services.push((topic.into(), Arc::new(service)));
        self
    }

    /// Declares every service's queues, starts consuming, and returns the
    /// running server.
    pub async fn start(self) -> Result<Server, RpcError> {
        check_name("server", &self.server_name)?;
        if self.services.is_empty() {
            return Err(RpcError::config(
                "the server hosts no service; call `serve` first",
            ));
        }
        let wire = self.transport.wire();
        if !wire.streams() {
            for (_, service) in &self.services {
                let descriptor = service.descriptor();
                if let Some(method) = descriptor
                    .methods
                    .iter()
                    .find(|m| m.kind == crate::descriptor::MethodKind::Stream)
                {
                    return Err(RpcError::config(format!(
                        "`{}::{}` streams its reply, which the {} wire cannot carry: serve `{}` on a transport speaking the native wire",
                        descriptor.name,
                        method.name,
                        wire.name(),
                        descriptor.topic
                    )));
                }
            }
        }
        let prefetch = u16::try_from(self.concurrency).unwrap_or(u16::MAX);
        let permits = Arc::new(Semaphore::new(self.concurrency));
        let stop = self
            .stop_on
            .as_ref()
            .map_or_else(CancellationToken::new, CancellationToken::child_token);
        let mut tasks = JoinSet::new();
        let state = Arc::new(ServerState::new(&self.server_name, self.show_panics));
        for (topic, service) in self.services {
            check_server_names(&topic, &self.server_name)?;
            let spec = Subscribe {
                source: Source::Server {
                    topic: topic.clone(),
                    server: self.server_name.clone(),
                },
                prefetch,
                durability: self
                    .durability
                    .unwrap_or_else(|| self.transport.queue_durability()),
                max_length: None,
                expires: self.expiry.unwrap_or_else(|| {
                    wire.expires_server_queues()
                        .then_some(DEFAULT_SERVER_QUEUE_EXPIRY)
                }),
            };
            let listener = self.transport.subscribe(spec).await?;
            let handler = Handler::new(self.transport.clone(), &topic, service, Arc::clone(&state));
            let serving = Serving::new(Arc::new(handler), self.acks);
            tasks.spawn(serving.run(listener, Arc::clone(&permits), stop.clone()));
        }
        tracing::info!(server = %self.server_name, "server started");
        Ok(Server::running(
            self.server_name,
            stop,
            tasks,
            permits,
            self.concurrency,
        ))
    }
}

impl std::fmt::Debug for ServerBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerBuilder")
            .field("server_name", &self.server_name)
            .field("concurrency", &self.concurrency)
            .field(
                "topics",
                &self.services.iter().map(|(t, _)| t).collect::<Vec<_>>(),
            )
            .finish()
    }
}
