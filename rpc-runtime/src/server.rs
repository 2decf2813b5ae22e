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
use tokio::task::{JoinHandle, JoinSet};
use tokio_util::sync::CancellationToken;

use crate::dispatch::respond;
use crate::error::RpcError;
use crate::message::Message;
use crate::service::Service;
use crate::topology::{check_name, check_server_names};
use crate::transport::{Delivery, ListenSpec, Listener, Transport};
use crate::wire::ReplyBody;

/// How many requests a server runs at once unless told otherwise.
pub const DEFAULT_CONCURRENCY: usize = 64;

/// Collects the services a server will host; see [`Server::builder`].
pub struct ServerBuilder {
    transport: Transport,
    server_name: String,
    concurrency: usize,
    services: Vec<(String, Arc<dyn Service>)>,
}

impl ServerBuilder {
    /// How many requests run at once across the server's services (default
    /// 64); also the broker prefetch of each of its queues.
    pub fn concurrency(mut self, requests: usize) -> Self {
        self.concurrency = requests.max(1);
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
        let stop = CancellationToken::new();
        let mut tasks = JoinSet::new();
        for (topic, service) in self.services {
            check_server_names(&topic, &self.server_name)?;
            let spec = ListenSpec {
                topic: topic.clone(),
                server: self.server_name.clone(),
                prefetch,
            };
            let listener = self.transport.driver().listen(spec).await?;
            let serving = Serving {
                transport: self.transport.clone(),
                topic,
                service,
            };
            tasks.spawn(serving.run(listener, Arc::clone(&permits), stop.clone()));
        }
        tracing::info!(server = %self.server_name, "server started");
        Ok(Server {
            name: self.server_name,
            stop,
            tasks,
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

/// A running server. Dropping it stops it too (without waiting).
#[derive(Debug)]
pub struct Server {
    name: String,
    stop: CancellationToken,
    tasks: JoinSet<()>,
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
        }
    }

    /// The server's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Stops consuming; requests being handled finish on their own.
    pub async fn shutdown(mut self) {
        self.stop.cancel();
        while self.tasks.join_next().await.is_some() {}
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// One service being served on one topic.
#[derive(Clone)]
struct Serving {
    transport: Transport,
    topic: String,
    service: Arc<dyn Service>,
}

impl Serving {
    async fn run(self, mut listener: Listener, permits: Arc<Semaphore>, stop: CancellationToken) {
        loop {
            let permit = tokio::select! {
                () = stop.cancelled() => break,
                permit = Arc::clone(&permits).acquire_owned() => match permit {
                    Ok(permit) => permit,
                    Err(_) => break,
                },
            };
            let delivery = tokio::select! {
                () = stop.cancelled() => break,
                delivery = listener.deliveries.recv() => match delivery {
                    Some(delivery) => delivery,
                    None => {
                        tracing::error!(topic = %self.topic, "stopped receiving: the broker channel closed");
                        break;
                    }
                },
            };
            // Acked when taken, before running (oslo's at-most-once); acked
            // here, in order, so a stop cannot overtake the ack.
            let Delivery { message, acker, .. } = delivery;
            if let Err(error) = acker.ack().await {
                tracing::warn!(topic = %self.topic, %error, "could not ack a request; not running it");
                continue;
            }
            let this = self.clone();
            tokio::spawn(async move {
                this.handle(message).await;
                drop(permit);
            });
        }
    }

    async fn handle(&self, message: Message) {
        let wire = self.transport.wire();
        let reply_to = message.reply_to.clone();
        let correlation_id = message.correlation_id.clone();
        let monitor = wire.call_monitor(&message);
        let heartbeats = match (&reply_to, monitor) {
            (Some(reply_to), Some(silence)) => {
                Some(self.heartbeats(silence, reply_to, &correlation_id))
            }
            _ => None,
        };
        let reply = respond(&*self.service, wire, &self.topic, message).await;
        if let Some(heartbeats) = heartbeats {
            heartbeats.abort();
        }
        let Some(reply) = reply else {
            return;
        };
        if let ReplyBody::Failure(error) = &reply {
            tracing::warn!(topic = %self.topic, %error, "request failed");
        }
        let Some(reply_to) = reply_to else {
            return;
        };
        let mut message = wire.encode_reply(reply);
        if self.transport.check_size(&message).is_err() {
            let too_large = RpcError::Internal {
                method: String::from("(reply)"),
                detail: format!(
                    "the reply of {} bytes is over the message size limit",
                    message.body.len()
                ),
            };
            message = wire.encode_reply(ReplyBody::Failure(too_large));
        }
        message.correlation_id = correlation_id;
        if let Err(error) = self.transport.driver().reply(reply_to, message).await {
            tracing::warn!(topic = %self.topic, %error, "could not send a reply");
        }
    }

    /// Sends a heartbeat every `silence / 2` (at least 250 ms apart, whatever
    /// the request asked) until aborted, from its own task so that a slow
    /// broker never stalls the manager.
    fn heartbeats(
        &self,
        silence: Duration,
        reply_to: &str,
        correlation_id: &Option<String>,
    ) -> JoinHandle<()> {
        let every = (silence / 2).max(Duration::from_millis(250));
        let transport = self.transport.clone();
        let reply_to = reply_to.to_owned();
        let correlation_id = correlation_id.clone();
        tokio::spawn(async move {
            let mut beats = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
            loop {
                beats.tick().await;
                let mut beat = transport.wire().encode_heartbeat();
                beat.correlation_id.clone_from(&correlation_id);
                if let Err(error) = transport.driver().reply(reply_to.clone(), beat).await {
                    tracing::debug!(%error, "could not send a heartbeat");
                    return;
                }
            }
        })
    }
}
