//! Consumers that outlive connections: a server's or a listener's queues
//! are declared and consumed again on every new session, and again on the
//! same session when the broker cancels a consumer (its queue was deleted,
//! a queue leader moved) or when a queue is found missing (checked every
//! [`CHECK_QUEUES`]: RabbitMQ does not always cancel the consumers of a
//! deleted quorum queue). Before each (re)consume, the redelivered head of
//! the queues is drained ([`super::drain`]). The reader sees one stream of
//! deliveries.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use super::config::AmqpConfig;
use super::consumer::{Consumer, Ended};
use super::declare;
use super::drain::drain;
use super::session::Session;
use super::supervisor::State;
use crate::error::RpcError;
use crate::transport::driver::{Delivery, Listener, Subscribe};

/// How long to wait before consuming again on the same session.
const RETRY: Duration = Duration::from_millis(500);

/// How often a subscription checks that its queues still exist.
const CHECK_QUEUES: Duration = Duration::from_secs(5);

/// Declares and consumes on the current session, then keeps doing so on
/// the sessions that follow, until the returned listener is dropped.
pub(super) async fn start(
    state: watch::Receiver<State>,
    config: AmqpConfig,
    spec: Subscribe,
) -> Result<Listener, RpcError> {
    let session = match &*state.borrow() {
        State::Up(session) => session.clone(),
        State::Down { error, .. } => {
            return Err(RpcError::Connection(format!(
                "not connected to the broker: {error}"
            )));
        }
    };
    let (to, deliveries) = mpsc::channel(usize::from(spec.prefetch).max(1));
    let subscription = Subscription {
        state,
        config,
        spec,
    };
    let first = subscription.consume(&session, &to).await?;
    let stop = CancellationToken::new();
    tokio::spawn(subscription.run((session, first), to, stop.clone()));
    Ok(Listener::new(deliveries, stop.drop_guard()))
}

struct Subscription {
    state: watch::Receiver<State>,
    config: AmqpConfig,
    spec: Subscribe,
}

impl Subscription {
    async fn run(
        mut self,
        first: (Arc<Session>, Consumer),
        to: mpsc::Sender<Delivery>,
        stop: CancellationToken,
    ) {
        let mut consumer = Some(first);
        loop {
            if let Some((session, current)) = consumer.take() {
                let gone = CancellationToken::new();
                let checking = tokio::spawn(self.check_queues(session, gone.clone()));
                let ended = current.pump(&stop, &gone).await;
                checking.abort();
                if ended == Ended::Stopped {
                    return;
                }
            }
            // Wait for a new session, or try again on this one after a pause.
            tokio::select! {
                () = stop.cancelled() => return,
                changed = self.state.changed() => if changed.is_err() { return },
                () = tokio::time::sleep(RETRY) => {}
            }
            let session = match &*self.state.borrow() {
                State::Up(session) => session.clone(),
                State::Down { .. } => continue,
            };
            tokio::select! {
                () = stop.cancelled() => return,
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

    /// Resolves `gone` once one of the subscription's shared queues is
    /// missing on `session`.
    fn check_queues(
        &self,
        session: Arc<Session>,
        gone: CancellationToken,
    ) -> impl std::future::Future<Output = ()> + Send + 'static {
        let queues = self.spec.source.queues();
        async move {
            let mut tick = tokio::time::interval(CHECK_QUEUES);
            tick.tick().await;
            loop {
                tick.tick().await;
                for queue in &queues {
                    if let Ok(false) = session.admin.queue_exists(queue).await {
                        tracing::warn!(%queue, "a consumed queue is gone; declaring it again");
                        gone.cancel();
                        return;
                    }
                }
            }
        }
    }

    /// Declares the queues, drains their redelivered head, and consumes them.
    async fn consume(
        &self,
        session: &Session,
        to: &mpsc::Sender<Delivery>,
    ) -> Result<Consumer, RpcError> {
        let (channel, events) = Consumer::channel(&session.link, self.spec.prefetch).await?;
        let exchange = self.config.control();
        let queues = declare::source(&channel, &exchange, &self.spec, true).await?;
        let limit = usize::from(self.spec.prefetch) + 1;
        drain(&self.config, session, &queues, limit, to).await;
        let names: Vec<String> = queues.into_iter().map(|(name, _)| name).collect();
        Consumer::on(channel, events, &names, to).await
    }
}
