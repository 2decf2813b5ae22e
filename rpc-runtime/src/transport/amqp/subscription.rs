//! Consumers that outlive connections: a server's or a listener's queues
//! are declared and consumed again on every new session, and again on the
//! same session when the broker cancels a consumer (its queue was deleted,
//! a queue leader moved). The reader sees one stream of deliveries.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use super::consumer::{Consumer, Ended};
use super::declare::{self, ControlExchange};
use super::session::Session;
use crate::error::RpcError;
use crate::transport::{ListenSpec, Listener, QueueSpec};

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
    sessions: watch::Receiver<Option<Arc<Session>>>,
    exchange: ControlExchange,
    setup: Setup,
    prefetch: u16,
) -> Result<Listener, RpcError> {
    let session = sessions
        .borrow()
        .clone()
        .ok_or_else(|| RpcError::Connection("not connected to the broker; reconnecting".into()))?;
    let (to, deliveries) = mpsc::channel(usize::from(prefetch).max(1));
    let first = consume(&session, &exchange, &setup, prefetch, &to).await?;
    let stop = CancellationToken::new();
    let subscription = Subscription {
        sessions,
        exchange,
        setup,
        prefetch,
    };
    tokio::spawn(subscription.run(first, to, stop.clone()));
    Ok(Listener {
        deliveries,
        _stop: stop.drop_guard(),
    })
}

struct Subscription {
    sessions: watch::Receiver<Option<Arc<Session>>>,
    exchange: ControlExchange,
    setup: Setup,
    prefetch: u16,
}

impl Subscription {
    async fn run(
        mut self,
        first: Consumer,
        to: mpsc::Sender<crate::transport::Delivery>,
        stop: CancellationToken,
    ) {
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
                changed = self.sessions.changed() => if changed.is_err() { return },
                () = tokio::time::sleep(RETRY) => {}
            }
            let Some(session) = self.sessions.borrow().clone() else {
                continue;
            };
            match consume(&session, &self.exchange, &self.setup, self.prefetch, &to).await {
                Ok(next) => {
                    tracing::info!("consuming again");
                    consumer = Some(next);
                }
                Err(error) => tracing::warn!(%error, "could not consume again; retrying"),
            }
        }
    }
}

async fn consume(
    session: &Session,
    exchange: &ControlExchange,
    setup: &Setup,
    prefetch: u16,
    to: &mpsc::Sender<crate::transport::Delivery>,
) -> Result<Consumer, RpcError> {
    let (channel, events) = Consumer::channel(&session.connection, prefetch).await?;
    let queues = match setup {
        Setup::Server(spec) => declare::server_queues(&channel, exchange, spec).await?,
        Setup::Queues(specs) => {
            for spec in specs {
                declare::queue(&channel, exchange, spec).await?;
            }
            specs.iter().map(|s| s.name.clone()).collect()
        }
    };
    Consumer::on(channel, events, &queues, to).await
}
