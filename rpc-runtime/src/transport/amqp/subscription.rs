//! Consumers that outlive connections: a server's or a listener's queues
//! are declared and consumed again on every new session, and again on the
//! same session when the broker cancels a consumer (its queue was deleted,
//! a queue leader moved). Before each (re)consume, the redelivered head of
//! the queues is drained ([`super::drain`]). The reader sees one stream of
//! deliveries.

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
use crate::transport::{Delivery, ListenSpec, Listener, QueueSpec};

/// How long to wait before consuming again on the same session.
const RETRY: Duration = Duration::from_millis(500);

/// What to declare before consuming.
#[derive(Debug, Clone)]
pub(super) enum Setup {
    /// A server's three queues.
    Server(ListenSpec),
    /// Named queues (notification queues).
    Queues(Vec<QueueSpec>),
}

/// Declares and consumes on the current session, then keeps doing so on
/// the sessions that follow, until the returned listener is dropped.
pub(super) async fn start(
    state: watch::Receiver<State>,
    config: AmqpConfig,
    setup: Setup,
    prefetch: u16,
) -> Result<Listener, RpcError> {
    let session = match &*state.borrow() {
        State::Up(session) => session.clone(),
        State::Down { error, .. } => {
            return Err(RpcError::Connection(format!(
                "not connected to the broker: {error}"
            )));
        }
    };
    let (to, deliveries) = mpsc::channel(usize::from(prefetch).max(1));
    let subscription = Subscription {
        state,
        config,
        setup,
        prefetch,
    };
    let first = subscription.consume(&session, &to).await?;
    let stop = CancellationToken::new();
    tokio::spawn(subscription.run(first, to, stop.clone()));
    Ok(Listener {
        deliveries,
        _stop: stop.drop_guard(),
    })
}

struct Subscription {
    state: watch::Receiver<State>,
    config: AmqpConfig,
    setup: Setup,
    prefetch: u16,
}

impl Subscription {
    async fn run(mut self, first: Consumer, to: mpsc::Sender<Delivery>, stop: CancellationToken) {
        let mut consumer = Some(first);
        loop {
            if let Some(current) = consumer.take() {
                if current.pump(&stop).await == Ended::Stopped {
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
                        consumer = Some(next);
                    }
                    Err(error) => tracing::warn!(%error, "could not consume again; retrying"),
                },
            }
        }
    }

    /// Declares the queues, drains their redelivered head, and consumes them.
    async fn consume(
        &self,
        session: &Session,
        to: &mpsc::Sender<Delivery>,
    ) -> Result<Consumer, RpcError> {
        let (channel, events) = Consumer::channel(&session.link, self.prefetch).await?;
        let exchange = self.config.control();
        let queues = match &self.setup {
            Setup::Server(spec) => declare::server_queues(&channel, &exchange, spec).await?,
            Setup::Queues(specs) => {
                let mut queues = Vec::with_capacity(specs.len());
                for spec in specs {
                    let ready = declare::queue(&channel, &exchange, spec).await?;
                    queues.push((spec.name.clone(), ready));
                }
                queues
            }
        };
        let limit = usize::from(self.prefetch) + 1;
        drain(&self.config, session, &queues, limit, to).await;
        let names: Vec<String> = queues.into_iter().map(|(name, _)| name).collect();
        Consumer::on(channel, events, &names, to).await
    }
}
