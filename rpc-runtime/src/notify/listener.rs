//! Consuming notifications: queues, pools, filters, bounded redelivery.
//!
//! Without a pool a listener consumes the default queue of each
//! topic/priority it listens to (`notifications.info`), competing with the
//! other pool-less listeners. With `pool("billing")` it consumes one durable
//! queue named `billing`, bound to each of those routing keys: listeners in
//! the pool share it, each pool gets every notification, and notifications
//! wait there while no listener of the pool runs.
//!
//! A notification is acked after the handler returns. When the handler
//! fails (or panics), a copy carrying `x-retries: n` goes back to the queue;
//! after `max_redeliveries` it is dropped with an error log, never looped
//! forever.

use std::fmt;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use futures_util::FutureExt;
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::notification::Notification;
use super::{DEFAULT_TOPIC, EventFilter, Priority};
use crate::error::RpcError;
use crate::future::BoxFuture;
use crate::transport::DEFAULT_TIMEOUT;
use crate::transport::driver::{Delivery, Durability, Listener, Source, Subscribe};
use crate::transport::{Destination, Transport, times_back};

const RETRIES: &str = "x-retries";

/// Handles notifications; any `Fn(Notification) -> impl Future<Output =
/// Result<(), E>>` with `E: Display` is one.
pub trait NotificationHandler: Send + Sync + 'static {
    /// Handles one notification; an error asks for a redelivery.
    fn handle(&self, notification: Notification) -> BoxFuture<'_, Result<(), String>>;
}

impl<F, Fut, E> NotificationHandler for F
where
    F: Fn(Notification) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), E>> + Send + 'static,
    E: fmt::Display,
{
    fn handle(&self, notification: Notification) -> BoxFuture<'_, Result<(), String>> {
        let running = self(notification);
        Box::pin(async move { running.await.map_err(|e| e.to_string()) })
    }
}

/// Counts of what a listener did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ListenerStats {
    /// Handled successfully.
    pub handled: u64,
    /// Failed and sent back for another try.
    pub retried: u64,
    /// Failed too often (or undecodable) and dropped.
    pub dropped: u64,
    /// Skipped by the event type filters.
    pub filtered: u64,
}

#[derive(Debug, Default)]
struct Counters {
    handled: AtomicU64,
    retried: AtomicU64,
    dropped: AtomicU64,
    filtered: AtomicU64,
}

/// Configures a listener; see [`NotificationListener::builder`].
#[derive(Debug)]
pub struct ListenerBuilder {
    transport: Transport,
    topics: Vec<String>,
    priorities: Vec<Priority>,
    pool: Option<String>,
    filters: Vec<EventFilter>,
    max_redeliveries: u32,
    concurrency: usize,
    max_queue_length: Option<u32>,
}

impl ListenerBuilder {
    /// Bounds the queues it declares (see [`Notifier::max_queue_length`](super::Notifier::max_queue_length)).
    pub fn max_queue_length(mut self, max: u32) -> Self {
        self.max_queue_length = Some(max);
        self
    }

    /// Listens to these topics instead of `notifications`.
    pub fn topics<I: IntoIterator<Item = S>, S: Into<String>>(mut self, topics: I) -> Self {
        self.topics = topics.into_iter().map(Into::into).collect();
        self
    }

    /// Listens to these priorities only (default: all).
    pub fn priorities<I: IntoIterator<Item = Priority>>(mut self, priorities: I) -> Self {
        self.priorities = priorities.into_iter().collect();
        self
    }

    /// Joins a pool: one durable queue named `pool` shared by its listeners.
    pub fn pool(mut self, pool: impl Into<String>) -> Self {
        self.pool = Some(pool.into());
        self
    }

    /// Hands over only notifications whose event type matches one of the
    /// patterns (`volume.create.end`, `volume.*`); the others are acked and
    /// skipped.
    pub fn event_types<I: IntoIterator<Item = S>, S: Into<String>>(mut self, patterns: I) -> Self {
        self.filters = patterns
            .into_iter()
            .map(|p| EventFilter::new(p.into()))
            .collect();
        self
    }

    /// How many times a failed notification is redelivered before it is
    /// dropped (default 3).
    pub fn max_redeliveries(mut self, times: u32) -> Self {
        self.max_redeliveries = times;
        self
    }

    /// How many notifications are handled at once (default 16; also the
    /// broker prefetch).
    pub fn concurrency(mut self, handlers: usize) -> Self {
        self.concurrency = handlers.max(1);
        self
    }

    /// Declares the queues and starts handing notifications to `handler`.
    pub async fn start<H: NotificationHandler>(
        self,
        handler: H,
    ) -> Result<NotificationListener, RpcError> {
        let keys: Vec<String> = self
            .topics
            .iter()
            .flat_map(|topic| self.priorities.iter().map(move |p| p.routing_key(topic)))
            .collect();
        let spec = Subscribe {
            source: Source::Notifications {
                pool: self.pool.clone(),
                keys,
            },
            prefetch: u16::try_from(self.concurrency).unwrap_or(u16::MAX),
            durability: Durability::Durable,
            max_length: self.max_queue_length,
            expires: None,
        };
        for queue in spec.source.queues() {
            crate::topology::check_name("notification queue", &queue.name)?;
        }
        let listener = self.transport.subscribe(spec).await?;
        let counters = Arc::new(Counters::default());
        let stop = CancellationToken::new();
        let consuming = Consuming {
            transport: self.transport,
            handler: Arc::new(handler),
            filters: self.filters,
            max_redeliveries: self.max_redeliveries,
            counters: Arc::clone(&counters),
        };
        let task = tokio::spawn(consuming.run(
            listener,
            Arc::new(Semaphore::new(self.concurrency)),
            stop.clone(),
        ));
        Ok(NotificationListener {
            counters,
            stop,
            task,
        })
    }
}

/// A running notification listener. Dropping it stops it too.
#[derive(Debug)]
pub struct NotificationListener {
    counters: Arc<Counters>,
    stop: CancellationToken,
    task: JoinHandle<()>,
}

impl NotificationListener {
    /// A builder listening to every priority of `notifications`, without a pool.
    pub fn builder(transport: &Transport) -> ListenerBuilder {
        ListenerBuilder {
            transport: transport.clone(),
            topics: vec![DEFAULT_TOPIC.to_owned()],
            priorities: Priority::ALL.to_vec(),
            pool: None,
            filters: Vec::new(),
            max_redeliveries: 3,
            concurrency: 16,
            max_queue_length: None,
        }
    }

    /// What the listener did so far.
    pub fn stats(&self) -> ListenerStats {
        let read = |n: &AtomicU64| n.load(Ordering::Relaxed);
        ListenerStats {
            handled: read(&self.counters.handled),
            retried: read(&self.counters.retried),
            dropped: read(&self.counters.dropped),
            filtered: read(&self.counters.filtered),
        }
    }

    /// Stops consuming; notifications not yet taken stay in the queue.
    pub async fn shutdown(mut self) {
        self.stop.cancel();
        let _ = (&mut self.task).await;
    }
}

impl Drop for NotificationListener {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

#[derive(Clone)]
struct Consuming {
    transport: Transport,
    handler: Arc<dyn NotificationHandler>,
    filters: Vec<EventFilter>,
    max_redeliveries: u32,
    counters: Arc<Counters>,
}

impl Consuming {
    async fn run(self, mut listener: Listener, permits: Arc<Semaphore>, stop: CancellationToken) {
        while let Some((permit, delivery)) = self
            .transport
            .next_delivery(&mut listener, &permits, &stop, "notification listener")
            .await
        {
            // A combinator, not an `async` block awaiting `handle`: that
            // would hold the delivery twice while the handler runs.
            tokio::spawn(self.clone().handle(delivery).map(move |()| drop(permit)));
        }
    }

    /// Handles one delivery, then acks it (after a retry copy, if any, was
    /// confirmed).
    async fn handle(self, delivery: Delivery) {
        let Delivery {
            queue,
            message,
            acker,
            ..
        } = delivery;
        let retries = times_back(&message, RETRIES);
        let retry_copy = message.clone();
        let wire = self.transport.wire();
        let outcome = match wire.decode_notification(message) {
            Err(error) => {
                tracing::error!(%queue, %error, "dropped an undecodable notification");
                self.counters.dropped.fetch_add(1, Ordering::Relaxed);
                crate::telemetry::notification("dropped");
                None
            }
            Ok(incoming) if !self.wanted(&incoming.event_type) => {
                self.counters.filtered.fetch_add(1, Ordering::Relaxed);
                None
            }
            Ok(incoming) => {
                let notification = Notification {
                    priority: incoming.priority,
                    event_type: incoming.event_type,
                    publisher_id: incoming.publisher_id,
                    message_id: incoming.message_id,
                    timestamp: incoming.timestamp,
                    context: incoming.context,
                    payload: incoming.payload,
                    codec: *wire.codec(),
                };
                let event_type = notification.event_type.clone();
                let handled = AssertUnwindSafe(self.handler.handle(notification))
                    .catch_unwind()
                    .await;
                match handled {
                    Ok(Ok(())) => {
                        self.counters.handled.fetch_add(1, Ordering::Relaxed);
                        crate::telemetry::notification("handled");
                        None
                    }
                    Ok(Err(error)) => Some((event_type, error)),
                    Err(_) => Some((event_type, "the handler panicked".to_owned())),
                }
            }
        };
        match outcome {
            None => {}
            Some((event_type, error)) if retries < self.max_redeliveries => {
                // Counted before sending: the copy may be handled before the
                // broker's confirm reaches us.
                self.counters.retried.fetch_add(1, Ordering::Relaxed);
                crate::telemetry::notification("retried");
                let destination = Destination::Queue {
                    name: queue.to_string(),
                };
                let sent = self
                    .transport
                    .send_back(
                        destination,
                        retry_copy,
                        RETRIES,
                        retries + 1,
                        DEFAULT_TIMEOUT,
                    )
                    .await;
                if let Err(send_error) = sent {
                    self.counters.retried.fetch_sub(1, Ordering::Relaxed);
                    // Not acked: the broker redelivers it when the channel goes.
                    tracing::error!(%event_type, %send_error, "could not redeliver a failed notification");
                    return;
                }
                tracing::warn!(%event_type, %error, attempt = retries + 1, "notification handler failed; redelivering");
            }
            Some((event_type, error)) => {
                tracing::error!(%event_type, %error, attempts = retries + 1, "notification handler keeps failing; dropping it");
                self.counters.dropped.fetch_add(1, Ordering::Relaxed);
                crate::telemetry::notification("dropped");
            }
        }
        if let Err(error) = acker.ack().await {
            tracing::warn!(%queue, %error, "could not ack a notification");
        }
    }

    fn wanted(&self, event_type: &str) -> bool {
        self.filters.is_empty() || self.filters.iter().any(|f| f.matches(event_type))
    }
}
