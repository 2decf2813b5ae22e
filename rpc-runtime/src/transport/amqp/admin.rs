//! The session's channels for declarations and questions to the broker: does
//! this fanout exchange exist, is this queue there but unavailable? A
//! failed passive declare makes the broker close the channel; it is reopened
//! on the next use, and the broker's reason is read from the close.
//!
//! RabbitMQ returns a mandatory message as `NO_ROUTE` both when no queue is
//! bound for it and when the queue's cluster node is down; only a passive
//! declare tells the two apart ("home node ... is down or inaccessible").
//! Answers are kept for [`VERDICT_TTL`], so a stream of returns costs one
//! question a queue, not one a message.

use std::collections::HashMap;
use std::sync::{Mutex as SyncMutex, PoisonError};
use std::time::Duration;

use amqprs::channel::{ExchangeDeclareArguments, QueueDeclareArguments};
use tokio::sync::{Mutex, mpsc};
use tokio::time::Instant;

use super::callback::{ChannelEvent, close_reason};
use super::shield::{Chan, Link};
use crate::error::RpcError;
use crate::transport::driver::QueueStatus;

/// How long an answer about a queue is reused.
const VERDICT_TTL: Duration = Duration::from_secs(2);

/// How many admin channels a session may open: thousands of servers
/// starting or stopping at once declare and delete their queues a few at a
/// time, not one after the other. A quiet session uses one.
const CHANNELS: usize = 4;

/// An admin channel, opened on first use.
type Slot = Mutex<Option<(Chan, mpsc::UnboundedReceiver<ChannelEvent>)>>;

/// The admin channels of one session.
pub(super) struct Admin {
    link: Link,
    channels: [Slot; CHANNELS],
    /// Where a caller who finds every channel busy waits.
    next: std::sync::atomic::AtomicUsize,
    /// Queue name -> (when asked, why it is unavailable if it is).
    verdicts: SyncMutex<HashMap<String, (Instant, Option<String>)>>,
}

impl Admin {
    pub(super) fn new(link: &Link) -> Self {
        Self {
            link: link.clone(),
            channels: Default::default(),
            next: Default::default(),
            verdicts: SyncMutex::default(),
        }
    }

    /// Runs `op` on an admin channel (the first free one; opened, or
    /// reopened, as needed); on failure, returns the broker's reason for
    /// closing the channel too.
    pub(super) async fn run<T, F, Fut>(&self, op: F) -> Result<T, (RpcError, Option<String>)>
    where
        F: FnOnce(Chan) -> Fut,
        Fut: std::future::Future<Output = Result<T, RpcError>>,
    {
        let free = self.channels.iter().find_map(|slot| slot.try_lock().ok());
        let mut slot = match free {
            Some(slot) => slot,
            None => {
                let at = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                self.channels[at % CHANNELS].lock().await
            }
        };
        if !slot.as_ref().is_some_and(|(channel, _)| channel.is_open()) {
            *slot = Some(self.link.channel().await.map_err(|e| (e, None))?);
        }
        let Some((channel, events)) = slot.as_mut() else {
            return Err((RpcError::Closed, None));
        };
        match op(channel.clone()).await {
            Ok(value) => Ok(value),
            Err(error) => Err((error, close_reason(events))),
        }
    }

    /// Whether an exchange exists (a passive declare).
    pub(super) async fn exchange_exists(&self, name: &str) -> Result<bool, RpcError> {
        let args = ExchangeDeclareArguments::new(name, "fanout")
            .passive(true)
            .finish();
        match self
            .run(|c| async move { c.exchange_declare(args).await })
            .await
        {
            Ok(()) => Ok(true),
            Err((_, Some(reason))) if reason.starts_with("404") => Ok(false),
            Err((error, _)) => Err(error),
        }
    }

    /// Whether a queue exists (a passive declare); `Err` when the broker
    /// could not say.
    pub(super) async fn queue_exists(&self, queue: &str) -> Result<bool, RpcError> {
        let args = QueueDeclareArguments::new(queue).passive(true).finish();
        let name = queue.to_owned();
        match self
            .run(|c| async move { c.queue_declare(&name, args).await })
            .await
        {
            Ok(_) => Ok(true),
            Err((_, Some(reason)))
                if reason.starts_with("404") && !reason.contains("down or inaccessible") =>
            {
                Ok(false)
            }
            Err((error, _)) => Err(error),
        }
    }

    /// A queue's counts (a passive declare); `None` when it does not exist.
    pub(super) async fn queue_status(&self, queue: &str) -> Result<Option<QueueStatus>, RpcError> {
        let args = QueueDeclareArguments::new(queue).passive(true).finish();
        let name = queue.to_owned();
        match self
            .run(|c| async move { c.queue_declare(&name, args).await })
            .await
        {
            Ok((messages, consumers)) => Ok(Some(QueueStatus {
                messages: u64::from(messages),
                consumers: u64::from(consumers),
            })),
            Err((_, Some(reason)))
                if reason.starts_with("404") && !reason.contains("down or inaccessible") =>
            {
                Ok(None)
            }
            Err((_, Some(reason))) => Err(RpcError::Unavailable {
                queue: queue.to_owned(),
                detail: reason,
            }),
            Err((error, None)) => Err(error),
        }
    }

    /// Why `queue` cannot take messages although it exists (its node is
    /// down), or `None` when it does not exist or is fine.
    pub(super) async fn unavailable(&self, queue: &str) -> Option<String> {
        let cached = self.verdicts().get(queue).cloned();
        if let Some((asked, verdict)) = cached {
            if asked.elapsed() < VERDICT_TTL {
                return verdict;
            }
        }
        let args = QueueDeclareArguments::new(queue).passive(true).finish();
        let name = queue.to_owned();
        let verdict = match self
            .run(|c| async move { c.queue_declare(&name, args).await })
            .await
        {
            Err((_, Some(reason))) if reason.contains("down or inaccessible") => Some(reason),
            _ => None,
        };
        let mut verdicts = self.verdicts();
        verdicts.retain(|_, (asked, _)| asked.elapsed() < VERDICT_TTL);
        verdicts.insert(queue.to_owned(), (Instant::now(), verdict.clone()));
        verdict
    }

    /// Turns an undeliverable message into [`RpcError::Unavailable`] when
    /// its queue exists but is unavailable.
    pub(super) async fn explain(&self, error: RpcError) -> RpcError {
        let RpcError::Undeliverable { destination } = &error else {
            return error;
        };
        match self.unavailable(destination).await {
            Some(detail) => RpcError::Unavailable {
                queue: destination.clone(),
                detail,
            },
            None => error,
        }
    }

    fn verdicts(&self) -> std::sync::MutexGuard<'_, HashMap<String, (Instant, Option<String>)>> {
        self.verdicts.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
