//! Keeps a transport connected: notices a lost connection, fails what was
//! in flight, and reconnects (to each broker of the URL in turn) with capped
//! exponential backoff and jitter. Servers and listeners follow the new
//! session through [`super::subscription`].

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::config::AmqpConfig;
use super::session::Session;
use crate::error::RpcError;
use crate::pending::PendingCalls;

/// The first wait before reconnecting.
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
/// The longest wait between attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(2);

/// Connects to the first broker of the URL that answers, starting at `next`;
/// returns the session and the index to start from next time.
pub(super) async fn connect_any(
    config: &AmqpConfig,
    next: usize,
    pending: &Arc<PendingCalls>,
) -> Result<(Session, usize), RpcError> {
    let endpoints = config.endpoints();
    let mut last_error = None;
    for offset in 0..endpoints.len() {
        let index = (next + offset) % endpoints.len();
        match Session::open(config, &endpoints[index], pending).await {
            Ok(session) => return Ok((session, index + 1)),
            Err(error) => {
                tracing::warn!(%error, "broker unreachable");
                last_error = Some(error);
            }
        }
    }
    Err(last_error.unwrap_or_else(|| RpcError::config("the AMQP URL names no broker")))
}

/// Watches the current session and replaces it when its connection ends,
/// until `stop` is cancelled.
pub(super) async fn run(
    config: AmqpConfig,
    pending: Arc<PendingCalls>,
    sessions: watch::Sender<Option<Arc<Session>>>,
    mut current: Arc<Session>,
    mut next: usize,
    stop: CancellationToken,
) {
    loop {
        let connection = current.connection.clone();
        tokio::select! {
            () = stop.cancelled() => return,
            _ = connection.listen_network_io_failure() => {}
        }
        drop(connection);
        let reason = "connection to the broker lost";
        tracing::warn!(broker = %config, "{reason}; reconnecting");
        sessions.send_replace(None);
        pending.fail_all(&RpcError::Connection(reason.to_owned()));
        current.fail(reason);
        let mut backoff = FIRST_BACKOFF;
        loop {
            match connect_any(&config, next, &pending).await {
                Ok((session, index)) => {
                    tracing::info!(broker = %config, "reconnected");
                    current = Arc::new(session);
                    next = index;
                    sessions.send_replace(Some(Arc::clone(&current)));
                    break;
                }
                Err(error) => tracing::debug!(%error, ?backoff, "reconnect failed"),
            }
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(jitter(backoff)) => {}
            }
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }
}

/// `wait` ± 25 %, so that many clients do not reconnect in lockstep.
fn jitter(wait: Duration) -> Duration {
    let random = (uuid::Uuid::new_v4().as_u128() % 1000) as f64 / 1000.0;
    wait.mul_f64(0.75 + random * 0.5)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_stays_within_a_quarter() {
        for _ in 0..100 {
            let waited = jitter(Duration::from_millis(1000));
            assert!(waited >= Duration::from_millis(750) && waited <= Duration::from_millis(1250));
        }
    }
}
