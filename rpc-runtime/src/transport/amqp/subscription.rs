//! Consumers that outlive connections: a server's or a listener's queues
//! are declared and consumed again on every new session, and again on the
//! same session when the broker cancels a consumer (its queue was deleted,
//! a queue leader moved) or when the session's checks find a queue missing
//! ([`super::checks`]: RabbitMQ does not always cancel the consumers of a
//! deleted quorum queue). Before each (re)consume, the redelivered head of
//! the queues is drained ([`super::drain`]). The reader sees one stream of
//! deliveries. A subscription that stops removes the queue only it used (a
//! server's `topic.server`) when nothing waits in it and nobody else
//! consumes it.

use std::sync::Arc;
use std::time::Duration;

use amqprs::FieldTable;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::config::AmqpConfig;
use super::consumer::{Consumer, Ended};
use super::declare;
use super::drain::drain;
use super::incoming::{Feeds, Outlet};
use super::limits::Limits;
use super::rabbit_queues::FanoutQueue;
use super::refusal::{explained, split_reason};
use super::session::Session;
use super::supervisor::State;
use crate::error::RpcError;
use crate::topology::Lifetime;
use crate::transport::driver::{Durability, Listener, QueueStatus, Source, Subscribe};

/// How long to wait before consuming again on the same session.
const RETRY: Duration = Duration::from_millis(500);

/// How often, and how far apart, a stopping server asks again whether its
/// own quorum queue still counts a consumer.
const QUORUM_SETTLE_TRIES: u32 = 20;
const QUORUM_SETTLE_STEP: Duration = Duration::from_millis(100);

/// Declares and consumes on the current session, then keeps doing so on
/// the sessions that follow, until the returned listener is dropped.
pub(super) async fn start(
    state: watch::Receiver<State>,
    config: AmqpConfig,
    spec: Subscribe,
    (tasks, stopping): (&TaskTracker, &TaskTracker),
    limits: Arc<Limits>,
) -> Result<Listener, RpcError> {
    let session = match &*state.borrow() {
        State::Up(session) => session.clone(),
        State::Down { error, .. } => {
            return Err(RpcError::Connection(format!(
                "not connected to the broker: {error}"
            )));
        }
    };
    let (feeds, to) = Feeds::new(spec.prefetch);
    let fanout = fanout_of(&config, &spec);
    let mut subscription = Subscription {
        state,
        config,
        spec,
        fanout,
        limits,
    };
    let first = subscription.consume(&session, &to).await?;
    let stop = CancellationToken::new();
    let stopped = stop.clone();
    // Held from the listener's drop until the subscription let go, so that
    // closing the transport waits for it.
    let letting_go = Arc::new(std::sync::Mutex::new(None));
    let (held, tracker) = (Arc::clone(&letting_go), stopping.clone());
    let on_drop = move || {
        if let Ok(mut slot) = held.lock() {
            *slot = Some(tracker.token());
        }
        stop.cancel();
    };
    let (listener, release) = Listener::polling(feeds, on_drop).with_release();
    tasks.spawn(async move {
        let last = subscription.run((session, first), to, stopped).await;
        if let Some(session) = last {
            subscription.remove_own_queue(&session).await;
        }
        drop(release);
        drop(letting_go);
    });
    Ok(listener)
}

struct Subscription {
    state: watch::Receiver<State>,
    config: AmqpConfig,
    spec: Subscribe,
    /// A server's fanout queue, the same on every session.
    fanout: Option<FanoutQueue>,
    limits: Arc<Limits>,
}

impl Subscription {
    /// Consumes until stopped; returns the session it consumed on when it
    /// was stopped while consuming.
    async fn run(
        &mut self,
        first: (Arc<Session>, Consumer),
        to: Outlet,
        stop: CancellationToken,
    ) -> Option<Arc<Session>> {
        let mut consumer = Some(first);
        loop {
            if let Some((session, current)) = consumer.take() {
                let gone = CancellationToken::new();
                let watching = session.checks.watch(
                    unannounced_queues(&self.spec, self.fanout.as_ref()),
                    gone.clone(),
                );
                let ended = tokio::select! {
                    ended = current.pump(&stop, &gone, &self.limits) => ended,
                    () = replaced(&mut self.state, &session) => Ended::Lost,
                };
                drop(watching);
                if ended == Ended::Stopped {
                    return Some(session);
                }
            }
            // Wait for a new session, or try again on this one after a pause.
            tokio::select! {
                () = stop.cancelled() => return None,
                changed = self.state.changed() => if changed.is_err() { return None },
                () = tokio::time::sleep(RETRY) => {}
            }
            let session = match &*self.state.borrow() {
                State::Up(session) => session.clone(),
                State::Down { .. } => continue,
            };
            tokio::select! {
                () = stop.cancelled() => return None,
                next = self.consume(&session, &to) => match next {
                    Ok(next) => {
                        tracing::info!("consuming again");
                        consumer = Some((session, next));
                    }
                    Err(error) => tracing::warn!(%error, "could not consume again; retrying"),
                },
            }
        }
    }

    /// Removes the queue only this subscription used, if nothing waits in
    /// it and nobody else consumes it, and a quorum fanout queue not to be
    /// used again; says so in the log either way.
    async fn remove_own_queue(&self, session: &Session) {
        if let Some(FanoutQueue::Quorum {
            name, kept: false, ..
        }) = &self.fanout
        {
            let queue = name.clone();
            let deleted = session
                .admin
                .run(|c| async move { c.queue_delete(&queue, false).await })
                .await;
            if let Err((error, reason)) = deleted {
                let reason = reason.unwrap_or_else(|| error.to_string());
                tracing::warn!(queue = %name, %reason, "kept the server's fanout queue (it expires unused)");
            }
        }
        let Some(queue) = self.spec.source.own_queue() else {
            return;
        };
        match self.delete_if_idle(session, &queue).await {
            Ok(()) => tracing::info!(%queue, "removed the server's own queue"),
            Err(reason) => {
                tracing::warn!(%queue, %reason, "kept the server's own queue (messages wait in it, another process consumes it, or the broker is out of reach)");
            }
        }
    }

    /// Deletes `queue` if it is idle; else says why not. RabbitMQ cannot
    /// delete a quorum queue "if unused" or "if empty" (it answers 540
    /// NOT_IMPLEMENTED, which closes the whole connection), so for those
    /// the counts are asked first.
    async fn delete_if_idle(&self, session: &Session, queue: &str) -> Result<(), String> {
        let quorum = matches!(self.spec.durability, Durability::Replicated { .. });
        if quorum {
            // A quorum queue counts a consumer just cancelled for a moment
            // longer (until the queue's members agree it is gone).
            let mut tries = 0;
            loop {
                match session.admin.queue_status(queue).await {
                    Ok(Some(QueueStatus {
                        messages: 0,
                        consumers: 0,
                    })) => break,
                    Ok(Some(QueueStatus { messages: 0, .. })) if tries < QUORUM_SETTLE_TRIES => {
                        tries += 1;
                        tokio::time::sleep(QUORUM_SETTLE_STEP).await;
                    }
                    Ok(Some(status)) => {
                        return Err(format!(
                            "{} messages wait in it, {} consumers",
                            status.messages, status.consumers
                        ));
                    }
                    Ok(None) => return Ok(()),
                    Err(error) => return Err(error.to_string()),
                }
            }
        }
        let name = queue.to_owned();
        session
            .admin
            .run(|c| async move { c.queue_delete(&name, !quorum).await })
            .await
            .map(|_| ())
            .map_err(|(error, reason)| reason.unwrap_or_else(|| error.to_string()))
    }

    /// Declares the queues, drains their redelivered head, and consumes
    /// them. A server queue that exists without the expiry asked for
    /// (declared by an older version, or by a Python server) is used as it
    /// is, with a warning.
    async fn consume(&mut self, session: &Session, to: &Outlet) -> Result<Consumer, RpcError> {
        match self.consume_once(session, to).await {
            Err(error) if self.spec.expires.is_some() && is_inequivalent(&error) => {
                let queue = self.spec.source.own_queue().unwrap_or_default();
                tracing::warn!(%queue, %error, "the server's own queue exists with other arguments; using it without an expiry");
                self.spec.expires = None;
                self.consume_once(session, to).await
            }
            other => other,
        }
    }

    async fn consume_once(&self, session: &Session, to: &Outlet) -> Result<Consumer, RpcError> {
        // Declared on the admin channel: a refusal closes the channel it
        // came on, and the consuming one is shared.
        let (control, spec, fanout) = (self.config.control(), &self.spec, self.fanout.as_ref());
        let rabbit = &self.config.rabbit_queues;
        let declared = session
            .admin
            .run(|c| async move { declare::source(&c, &control, spec, fanout, rabbit).await })
            .await;
        let queues = match declared {
            Ok(queues) => queues,
            // Say what the broker refused, and why.
            Err((error, Some(reason))) if is_refusal(&reason) => {
                return Err(explained(error, Some(&reason), session.link.identity()));
            }
            Err((_, Some(reason))) => {
                let names: Vec<String> = lasting_queues(&self.spec)
                    .into_iter()
                    .map(|queue| format!("`{queue}`"))
                    .collect();
                return Err(RpcError::Config(format!(
                    "the broker refused to declare {}: {reason}",
                    names.join(", ")
                )));
            }
            Err((error, None)) => return Err(error),
        };
        let limit = usize::from(self.spec.prefetch) + 1;
        let waiting: Vec<(String, u32)> =
            queues.iter().map(|q| (q.name.clone(), q.ready)).collect();
        drain(&self.config, session, &waiting, limit, &to.drained).await;
        let consumed: Vec<(String, FieldTable, bool)> = queues
            .into_iter()
            .map(|q| (q.name, rabbit.consume_arguments(q.stream), q.stream))
            .collect();
        let (consumer, fed) =
            Consumer::start(&session.seats, &consumed, self.spec.prefetch, &self.limits).await?;
        // A listener that is gone is stopping the subscription.
        let _ = to.feeds.send(fed);
        Ok(consumer)
    }
}

/// Resolves once `session` is no longer the transport's session (lost,
/// condemned or replaced): its consumers are gone with it, even if the
/// listener, busy, has not seen their deliveries end yet.
async fn replaced(state: &mut watch::Receiver<State>, session: &Arc<Session>) {
    loop {
        let current =
            matches!(&*state.borrow_and_update(), State::Up(s) if Arc::ptr_eq(s, session));
        if !current {
            return;
        }
        if state.changed().await.is_err() {
            // The transport is closing: its stop ends the subscription.
            std::future::pending::<()>().await;
        }
    }
}

/// Whether a close reason is a refusal with an error of its own (a
/// permission).
fn is_refusal(reason: &str) -> bool {
    split_reason(reason).0 == 403
}

/// Whether the broker refused a declaration because the queue exists with
/// other arguments (`406 PRECONDITION_FAILED - inequivalent arg ...`).
fn is_inequivalent(error: &RpcError) -> bool {
    error.to_string().contains("inequivalent arg")
}

/// A server's fanout queue, as the transport's oslo options make it.
fn fanout_of(config: &AmqpConfig, spec: &Subscribe) -> Option<FanoutQueue> {
    let Source::Server { topic, .. } = &spec.source else {
        return None;
    };
    let queues = spec.source.queues().into_iter();
    let exclusive = queues
        .into_iter()
        .find(|q| q.lifetime == Lifetime::Exclusive)?;
    Some(config.rabbit_queues.fanout(topic, exclusive.name))
}

/// The queues of `spec` that outlive a connection (not a server's fanout
/// queue), by name.
fn lasting_queues(spec: &Subscribe) -> Vec<String> {
    spec.source
        .queues()
        .into_iter()
        .filter(|queue| queue.lifetime != Lifetime::Exclusive)
        .map(|queue| queue.name)
        .collect()
}

/// The queues of `spec` whose deletion the broker may not announce, by
/// name: its quorum queues, and a quorum or stream fanout queue. RabbitMQ
/// cancels the consumers of a deleted classic queue (`basic.cancel`, which
/// ends the consumer), but not always those of a quorum queue; checking
/// only these keeps a session's passive declares off the classic queues
/// thousands of servers own.
fn unannounced_queues(spec: &Subscribe, fanout: Option<&FanoutQueue>) -> Vec<String> {
    let mut names = match spec.durability {
        Durability::Replicated { .. } => lasting_queues(spec),
        Durability::Transient | Durability::Durable => Vec::new(),
    };
    match fanout {
        Some(FanoutQueue::Quorum { name, .. } | FanoutQueue::Stream { name, .. }) => {
            names.push(name.clone());
        }
        Some(FanoutQueue::Exclusive { .. }) | None => {}
    }
    names
}
