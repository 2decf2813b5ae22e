//! The one door to amqprs: every call into it goes through [`Link`] (a
//! connection) or [`Chan`] (a channel).
//!
//! amqprs registers most operations with its connection's reader task or a
//! channel's dispatcher task, then waits for their answer; a future dropped
//! half-way (by a timeout, a `select!`, a caller that gave up) panics that
//! task and leaves a connection that looks open but is dead. So each
//! operation that waits for the broker runs here in a task of its own
//! ([`Shield`]): the caller may stop waiting, the operation still runs to
//! its end. Each is also bounded by the session's operation timeout, since
//! a broker can stop answering without closing anything. The two
//! operations that are a single send on amqprs's outgoing queue
//! (`basic_publish`, `basic_ack`) are cancel-safe and run inline.
//!
//! amqprs also keys the answers a channel waits for by method, so two
//! concurrent operations of one kind on one channel panic its dispatcher:
//! a [`Chan`] runs its waiting operations one at a time.
//!
//! Nothing else in the crate calls amqprs: `rpc-runtime/clippy.toml` lists
//! its methods under `disallowed-methods`, and only this module may use them.
#![allow(clippy::disallowed_methods)]

use std::future::Future;
use std::time::Duration;

use tokio_util::task::TaskTracker;

use crate::error::RpcError;

/// How the operations on one connection run: each in a task of its own,
/// waited for at most `limit`. The tasks are tracked, so that closing the
/// connection can wait for those still running: a runtime shutting down
/// drops the tasks it still has, and one dropped while amqprs's channel
/// dispatcher is about to answer it panics that dispatcher (its
/// `RegisterOneshotResponder` acker).
#[derive(Clone)]
struct Shield {
    limit: Duration,
    tasks: TaskTracker,
}

impl Shield {
    fn new(limit: Duration) -> Self {
        Self {
            limit,
            tasks: TaskTracker::new(),
        }
    }

    /// Runs `op` in its own task and waits for it at most `limit`; dropping
    /// the returned future leaves the task running. `what` names the
    /// operation in errors ("declaring queue `volume`").
    async fn run<T, F>(&self, what: &str, op: F) -> Result<T, RpcError>
    where
        T: Send + 'static,
        F: Future<Output = Result<T, amqprs::error::Error>> + Send + 'static,
    {
        let limit = self.limit;
        match tokio::time::timeout(limit, self.tasks.spawn(op)).await {
            Ok(Ok(Ok(value))) => Ok(value),
            Ok(Ok(Err(error))) => Err(RpcError::Connection(format!("{what} failed: {error}"))),
            Ok(Err(_)) => Err(RpcError::Connection(format!(
                "{what} failed: the AMQP client's task ended abruptly"
            ))),
            Err(_) => Err(RpcError::Connection(format!(
                "{what}: no answer from the broker within {limit:?}"
            ))),
        }
    }

    /// Runs `work` (operations started in the background) as a tracked
    /// task too.
    fn spawn(&self, work: impl Future<Output = ()> + Send + 'static) {
        self.tasks.spawn(work);
    }

    /// Waits (at most `limit`) until no operation runs any more; for a
    /// connection just closed, whose operations end at once.
    async fn settle(&self) {
        self.tasks.close();
        let _ = tokio::time::timeout(self.limit, self.tasks.wait()).await;
    }
}

mod chan;
mod gate;
mod link;

pub(crate) use chan::Chan;
pub(crate) use gate::Gate;
pub(crate) use link::Link;

#[cfg(test)]
mod tests {
    use tokio::sync::oneshot;

    use super::*;

    #[tokio::test]
    async fn a_caller_that_stops_waiting_does_not_cancel_the_operation() {
        let (done_tx, done_rx) = oneshot::channel();
        let op = async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            let _ = done_tx.send(());
            Ok::<_, amqprs::error::Error>(())
        };
        let gave_up = tokio::time::timeout(
            Duration::from_millis(5),
            Shield::new(Duration::from_secs(5)).run("waiting", op),
        )
        .await;
        assert!(gave_up.is_err());
        assert_eq!(done_rx.await, Ok(()), "the operation ran to its end");
    }

    #[tokio::test]
    async fn an_operation_past_its_limit_fails_naming_it() {
        let op = async {
            tokio::time::sleep(Duration::from_secs(60)).await;
            Ok::<_, amqprs::error::Error>(())
        };
        let error = Shield::new(Duration::from_millis(10))
            .run("declaring queue `q`", op)
            .await
            .unwrap_err();
        assert!(
            error.to_string().contains("declaring queue `q`: no answer"),
            "{error}"
        );
    }

    /// What closing a connection relies on: settling waits for the
    /// operations still running, those started in the background too, so
    /// that a runtime shut down afterwards drops none half-way.
    #[tokio::test]
    async fn settling_waits_for_the_operations_still_running() {
        let shield = Shield::new(Duration::from_secs(5));
        let (ran_tx, mut ran_rx) = oneshot::channel();
        let (background_tx, mut background_rx) = oneshot::channel();
        let op = async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            let _ = ran_tx.send(());
            Ok::<_, amqprs::error::Error>(())
        };
        // The caller stops waiting at once; the operation runs on.
        let gave_up = tokio::time::timeout(Duration::from_millis(1), shield.run("waiting", op));
        assert!(gave_up.await.is_err());
        shield.spawn(async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            let _ = background_tx.send(());
        });
        shield.settle().await;
        assert_eq!(ran_rx.try_recv(), Ok(()), "the operation had ended");
        assert_eq!(
            background_rx.try_recv(),
            Ok(()),
            "the background work had ended"
        );
    }
}
