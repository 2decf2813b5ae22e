//! The server: binds services to their queues and drives them.
//!
//! For each service it listens on the three queues of the service's topic
//! (see [`crate::topology`]). Each delivery is acked when taken (oslo's
//! at-most-once for calls), then handled in its own task; a semaphore bounds
//! how many run at once, and the broker's prefetch bounds what waits. Any bad
//! message (missing headers, unknown method, undecodable body, wrong version)
//! is logged and answered with an error when the caller waits; a panicking
//! manager method is answered with [`RpcError::Internal`]. The server keeps
//! serving through all of it.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::error::RpcError;
use crate::service::Service;
use crate::serving::{ServerState, Serving};
use crate::topology::{check_name, check_server_names};
use crate::transport::{ListenSpec, Listener, Transport};

/// How many requests a server runs at once unless told otherwise.
pub const DEFAULT_CONCURRENCY: usize = 64;

/// How long a shutdown waits for requests being handled unless told otherwise.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(30);

/// When a server acks what it takes from its queues.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AckMode {
    /// Everything is acked when taken, before it runs: at-most-once, as
    /// oslo.messaging does. A crash loses the requests being handled.
    #[default]
    OnReceipt,
    /// Casts are acked after their handler returned: at-least-once (a crash
    /// gets them redelivered, perhaps to another server). A cast redelivered
    /// more than `max_redeliveries` times is dropped with an error log.
    /// Calls are still acked on receipt: their caller stops waiting anyway.
    AfterHandling {
        /// How often a cast may come back before it is dropped.
        max_redeliveries: u32,
    },
}

/// Collects the services a server will host; see [`Server::builder`].
pub struct ServerBuilder {
    transport: Transport,
    server_name: String,
    concurrency: usize,
    services: Vec<(String, Arc<dyn Service>)>,
    stop_on: Option<CancellationToken>,
    acks: AckMode,
    durable: bool,
    quorum: Option<Option<u32>>,
    show_panics: bool,
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
        self.durable = durable;
        self
    }

    /// Declares the topic and server queues as quorum queues (replicated,
    /// durable; `x-queue-type: quorum`). With a `delivery_limit`, the broker
    /// drops a message delivered that many times without an ack (a poison
    /// message). The per-server fanout queues stay exclusive classic queues.
    /// As with [`ServerBuilder::durable_queues`], all servers of a topic must
    /// agree, and an existing classic queue cannot become a quorum queue.
    pub fn quorum_queues(mut self, delivery_limit: Option<u32>) -> Self {
        self.durable = true;
        self.quorum = Some(delivery_limit);
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
        let prefetch = u16::try_from(self.concurrency).unwrap_or(u16::MAX);
        let permits = Arc::new(Semaphore::new(self.concurrency));
        let stop = self
            .stop_on
            .as_ref()
            .map_or_else(CancellationToken::new, CancellationToken::child_token);
        let mut tasks = JoinSet::new();
        let state = Arc::new(ServerState {
            name: self.server_name.clone(),
            started: std::time::Instant::now(),
            in_flight: std::sync::atomic::AtomicUsize::new(0),
            show_panics: self.show_panics,
        });
        for (topic, service) in self.services {
            check_server_names(&topic, &self.server_name)?;
            let spec = ListenSpec {
                topic: topic.clone(),
                server: self.server_name.clone(),
                prefetch,
                durable: self.durable,
                quorum: self.quorum,
            };
            let listener = self.transport.driver().listen(spec).await?;
            let serving = Serving {
                transport: self.transport.clone(),
                topic: Arc::from(topic),
                service,
                acks: self.acks,
                server: Arc::clone(&state),
                seen: Arc::default(),
            };
            tasks.spawn(serving.run(listener, Arc::clone(&permits), stop.clone()));
        }
        tracing::info!(server = %self.server_name, "server started");
        Ok(Server {
            name: self.server_name,
            stop,
            tasks,
            permits,
            concurrency: self.concurrency,
        })
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

/// A running server. Dropping it stops consuming too, without waiting for
/// the requests being handled; [`Server::shutdown`] waits for them.
#[derive(Debug)]
pub struct Server {
    name: String,
    stop: CancellationToken,
    tasks: JoinSet<Listener>,
    permits: Arc<Semaphore>,
    concurrency: usize,
}

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
            durable: false,
            quorum: None,
            show_panics: false,
        }
    }

    /// The server's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Stops gracefully: stops consuming (messages not yet taken go back to
    /// their queues), lets the requests being handled finish and answers
    /// them, waiting at most [`DEFAULT_GRACE`].
    pub async fn shutdown(self) -> bool {
        self.shutdown_within(DEFAULT_GRACE).await
    }

    /// [`Server::shutdown`] with another grace period; false when requests
    /// were still running when it ran out.
    pub async fn shutdown_within(self, grace: Duration) -> bool {
        self.stop.cancel();
        self.wait_within(grace).await
    }

    /// Waits until the server stopped (see [`ServerBuilder::stop_on`]) and
    /// its requests were answered, at most [`DEFAULT_GRACE`] after it stopped.
    pub async fn wait(self) -> bool {
        self.wait_within(DEFAULT_GRACE).await
    }

    async fn wait_within(mut self, grace: Duration) -> bool {
        // Keep the consumers' channels open until the requests in flight
        // are answered (and, after handling, acked).
        let mut listeners = Vec::new();
        while let Some(joined) = self.tasks.join_next().await {
            if let Ok(listener) = joined {
                listeners.push(listener);
            }
        }
        let all = u32::try_from(self.concurrency).unwrap_or(u32::MAX);
        let drained = tokio::time::timeout(grace, self.permits.acquire_many(all)).await;
        drop(listeners);
        let done = matches!(drained, Ok(Ok(_)));
        if done {
            tracing::info!(server = %self.name, "server stopped");
        } else {
            tracing::warn!(server = %self.name, ?grace, "server stopped with requests still running");
        }
        done
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}
