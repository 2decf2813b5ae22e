//! A running server: what [`ServerBuilder::start`](super::ServerBuilder::start)
//! returns, and how it stops.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::transport::driver::Listener;

/// How long a shutdown waits for requests being handled unless told otherwise.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(30);

/// How long a stopped server waits for its subscriptions to let go of the
/// broker (close their channels, remove the server's own queues).
const RELEASE: Duration = Duration::from_secs(5);

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
    /// A server whose per-topic loops run in `tasks`, stopped by `stop`,
    /// running at most `concurrency` requests (as `permits` counts them).
    pub(super) fn running(
        name: String,
        stop: CancellationToken,
        tasks: JoinSet<Listener>,
        permits: Arc<Semaphore>,
        concurrency: usize,
    ) -> Self {
        Self {
            name,
            stop,
            tasks,
            permits,
            concurrency,
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

    /// Waits until the server stopped (see [`ServerBuilder::stop_on`](super::ServerBuilder::stop_on)) and
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
        for listener in listeners {
            if tokio::time::timeout(RELEASE, listener.close())
                .await
                .is_err()
            {
                tracing::warn!(server = %self.name, "a subscription did not let go of the broker in time");
            }
        }
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
