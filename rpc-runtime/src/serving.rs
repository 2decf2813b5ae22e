//! One service served on one topic: the loop that takes deliveries (bounded
//! by the server's permits), acks them, and runs each in its own task with
//! its reply and, if the caller asked, heartbeats.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::builtin::ServerFacts;
use crate::client::DEFAULT_TIMEOUT;
use crate::dispatch::respond;
use crate::error::RpcError;
use crate::message::Message;
use crate::server::AckMode;
use crate::service::Service;
use crate::transport::{Delivery, Destination, Listener, Transport};
use crate::wire::ReplyBody;

/// One service being served on one topic.
#[derive(Clone)]
pub(crate) struct Serving {
    pub(crate) transport: Transport,
    pub(crate) topic: Arc<str>,
    pub(crate) service: Arc<dyn Service>,
    pub(crate) acks: AckMode,
    /// The server's name, start and load, for `ping`.
    pub(crate) server: Arc<ServerState>,
    /// Unique ids of the requests taken lately, to drop redelivered copies.
    pub(crate) seen: Arc<RecentIds>,
}

/// The last [`RecentIds::CAPACITY`] message ids a server took (oslo keeps
/// 16): a request whose ack was lost and that the broker delivers again
/// is dropped instead of run twice.
#[derive(Debug, Default)]
pub(crate) struct RecentIds(std::sync::Mutex<std::collections::VecDeque<String>>);

impl RecentIds {
    const CAPACITY: usize = 256;

    /// Records `id`; false if it was seen already.
    fn first_time(&self, id: &str) -> bool {
        let mut ids = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if ids.iter().any(|seen| seen == id) {
            return false;
        }
        if ids.len() == Self::CAPACITY {
            ids.pop_front();
        }
        ids.push_back(id.to_owned());
        true
    }
}

/// What every service of one server shares about it.
#[derive(Debug)]
pub(crate) struct ServerState {
    pub(crate) name: String,
    pub(crate) started: std::time::Instant,
    /// Requests being handled, the asking one included.
    pub(crate) in_flight: AtomicUsize,
    /// Callers see a manager's panic message (development only).
    pub(crate) show_panics: bool,
}

impl ServerState {
    /// The facts `ping` reports, not counting the ping itself.
    fn facts(&self) -> ServerFacts {
        ServerFacts {
            name: self.name.clone(),
            started: self.started,
            in_flight: self.in_flight.load(Ordering::Relaxed).saturating_sub(1),
        }
    }
}

/// Counts a request as in flight while it lives.
struct InFlight<'a>(&'a AtomicUsize);

impl<'a> InFlight<'a> {
    fn new(counter: &'a AtomicUsize) -> Self {
        counter.fetch_add(1, Ordering::Relaxed);
        Self(counter)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The header counting how often a cast was redelivered after a crash.
const REDELIVERIES: &str = "x-redeliveries";

impl Serving {
    /// Serves until `stop`; returns the listener so that the server can
    /// keep its channel open (for acks) until the requests in flight end.
    pub(crate) async fn run(
        self,
        mut listener: Listener,
        permits: Arc<Semaphore>,
        stop: CancellationToken,
    ) -> Listener {
        while let Some((permit, delivery)) = listener
            .next(&permits, &stop, self.transport.wire(), &self.topic)
            .await
        {
            let is_cast = delivery.message.reply_to.is_none();
            match self.acks {
                AckMode::AfterHandling { max_redeliveries } if is_cast => {
                    let Some(Delivery { message, acker, .. }) =
                        self.bound_redeliveries(delivery, max_redeliveries).await
                    else {
                        continue;
                    };
                    let this = self.clone();
                    tokio::spawn(async move {
                        this.handle(message).await;
                        if let Err(error) = acker.ack().await {
                            tracing::warn!(topic = %this.topic, %error, "could not ack a handled cast; it will be redelivered");
                        }
                        drop(permit);
                    });
                }
                _ => {
                    // Acked when taken, before running (oslo's at-most-once);
                    // acked here, in order, so a stop cannot overtake the ack.
                    let Delivery { message, acker, .. } = delivery;
                    if let Err(error) = acker.ack().await {
                        tracing::warn!(topic = %self.topic, %error, "could not ack a request; not running it");
                        continue;
                    }
                    let wire = self.transport.wire();
                    if let Some(id) = wire.unique_id(&message) {
                        if !self.seen.first_time(id) {
                            tracing::warn!(topic = %self.topic, unique_id = id, "dropped a request delivered twice");
                            continue;
                        }
                    }
                    let this = self.clone();
                    tokio::spawn(async move {
                        this.handle(message).await;
                        drop(permit);
                    });
                }
            }
        }
        listener
    }

    /// A cast the broker redelivers (its handler did not finish, e.g. the
    /// process died) goes back to its queue with a count; past
    /// `max_redeliveries` it is dropped with an error log instead of looping
    /// forever. Returns the delivery to run now, if any.
    async fn bound_redeliveries(
        &self,
        delivery: Delivery,
        max_redeliveries: u32,
    ) -> Option<Delivery> {
        if !delivery.redelivered {
            return Some(delivery);
        }
        let Delivery {
            queue,
            mut message,
            acker,
            ..
        } = delivery;
        let count = message
            .headers
            .get(REDELIVERIES)
            .and_then(|n| n.parse::<u32>().ok())
            .unwrap_or(0)
            + 1;
        if count > max_redeliveries {
            tracing::error!(topic = %self.topic, %queue, count, "dropping a cast redelivered too often (a poison message?)");
        } else {
            message.headers.insert(REDELIVERIES, count.to_string());
            message.received_at = None;
            let destination = Destination::Queue {
                name: queue.to_string(),
            };
            if let Err(error) = self
                .transport
                .cast_raw(destination, message, DEFAULT_TIMEOUT)
                .await
            {
                tracing::warn!(topic = %self.topic, %error, "could not requeue a redelivered cast; the broker will redeliver it");
                return None;
            }
        }
        if let Err(error) = acker.ack().await {
            tracing::warn!(topic = %self.topic, %error, "could not ack a redelivered cast");
        }
        None
    }

    async fn handle(&self, mut message: Message) {
        let _counted = InFlight::new(&self.server.in_flight);
        let wire = self.transport.wire();
        // Moved out: decoding the request reads neither.
        let reply_to = message.reply_to.take();
        let correlation_id = message.correlation_id.take();
        let monitor = wire.call_monitor(&message);
        let heartbeats = match (&reply_to, monitor) {
            (Some(reply_to), Some(silence)) => {
                Some(self.heartbeats(silence, reply_to, &correlation_id))
            }
            _ => None,
        };
        let facts = || self.server.facts();
        let show_panics = self.server.show_panics;
        let answer = respond(
            &*self.service,
            wire,
            &self.topic,
            message,
            Some(&facts),
            show_panics,
        )
        .await;
        if let Some(heartbeats) = heartbeats {
            heartbeats.abort();
        }
        let Some(reply) = answer.reply else {
            return;
        };
        if let ReplyBody::Failure(error) = &reply {
            tracing::warn!(topic = %self.topic, %error, "request failed");
        }
        let Some(reply_to) = reply_to else {
            return;
        };
        let mut message = wire.encode_reply(reply, &answer.codec);
        if self.transport.check_size(&message).is_err() {
            let too_large = RpcError::Internal {
                method: String::from("(reply)"),
                detail: format!(
                    "the reply of {} bytes is over the message size limit",
                    message.body.len()
                ),
            };
            message = wire.encode_reply(ReplyBody::Failure(too_large), &answer.codec);
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
