//! Keeps a transport connected: a watchdog notices a session that is lost
//! *or* useless, fails what was in flight, and reconnects (to each broker
//! of the URL in turn) with capped exponential backoff and jitter. Servers
//! and listeners follow the new session through [`super::subscription`].
//!
//! A session is replaced when amqprs reports its connection's end, when
//! the connection no longer counts as open (checked every second, since a
//! notice sent before anyone listened is lost), when amqprs's reader task is
//! gone (a panic in it signals nothing), when a publish has waited
//! [`CONFIRM_STALL`] for its confirm while the broker does not block
//! publishing (a late confirm starts an alarm probe, [`super::alarm`]:
//! a blocked session is kept, since any other would be blocked too), and when anything using the session condemned it (see
//! [`super::health`]).

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::alarm;
use super::config::AmqpConfig;
use super::limits::Limits;
use super::session::Session;
use crate::error::RpcError;
use crate::transport::driver::Events;

/// The first wait before reconnecting.
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
/// The longest wait between attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(2);
/// How often the watchdog looks at a session.
const TICK: Duration = Duration::from_secs(1);
/// A confirm this late (the broker not blocking publishes) means the
/// session cannot deliver.
pub(super) const CONFIRM_STALL: Duration = Duration::from_secs(10);

/// Where the transport's connection stands.
#[derive(Clone)]
pub(super) enum State {
    /// Connected; new work goes to this session.
    Up(Arc<Session>),
    /// Reconnecting since `since`; `error` says why the last attempt (or
    /// the last session) failed.
    Down { since: Instant, error: Arc<str> },
}

/// Connects to the first broker of the URL that answers, starting at `next`;
/// returns the session and the index to start from next time.
pub(super) async fn connect_any(
    config: &AmqpConfig,
    next: usize,
    limits: &Arc<Limits>,
) -> Result<(Session, usize), RpcError> {
    let endpoints = config.endpoints();
    let mut last_error = None;
    for offset in 0..endpoints.len() {
        let index = (next + offset) % endpoints.len();
        match Session::open(config, &endpoints[index], limits).await {
            Ok(session) => return Ok((session, index + 1)),
            // A refused login or vhost is refused by every node of a cluster.
            Err(error @ (RpcError::Authentication { .. } | RpcError::VhostRefused { .. })) => {
                return Err(error);
            }
            Err(error) => {
                tracing::warn!(%error, "broker unreachable");
                last_error = Some(error);
            }
        }
    }
    Err(last_error.unwrap_or_else(|| RpcError::config("the AMQP URL names no broker")))
}

/// How a transport ends: `stop` is cancelled when it is closed or dropped,
/// `closed` only by a close (which ends the session itself).
pub(super) struct Ending {
    pub(super) stop: CancellationToken,
    pub(super) closed: CancellationToken,
    /// The subscriptions' tasks.
    pub(super) subscriptions: TaskTracker,
    /// The broker's limits, for each new session.
    pub(super) limits: Arc<Limits>,
}

/// How long a dropped transport waits for its subscriptions to let go of
/// the broker (a server dropped with it removes its own queue) before it
/// closes the connection.
const RELEASE: Duration = Duration::from_secs(5);

/// Ends the session of a transport dropped without `close()`: once its
/// subscriptions let go (within [`RELEASE`]), the connection is closed, so
/// nothing of it (connection, channels, reply queue, sockets) outlives it.
async fn dropped(session: &Session, subscriptions: &TaskTracker) {
    tracing::debug!("the transport was dropped without close(); closing its connection");
    subscriptions.close();
    let _ = tokio::time::timeout(RELEASE, subscriptions.wait()).await;
    session.end("the transport was dropped");
    session.link.close_now().await;
}

/// Watches the current session and replaces it when it is lost or
/// condemned, until `stop` is cancelled.
pub(super) async fn run(
    config: AmqpConfig,
    events: Events,
    state: watch::Sender<State>,
    mut current: Arc<Session>,
    mut next: usize,
    ending: Ending,
) {
    let stop = ending.stop.clone();
    loop {
        let Some(reason) = watch(&config, &current, &stop).await else {
            if !ending.closed.is_cancelled() {
                dropped(&current, &ending.subscriptions).await;
            }
            return;
        };
        // Closed on purpose: the session ended with it, nothing to replace.
        if stop.is_cancelled() {
            return;
        }
        tracing::warn!(broker = %config, %reason, "session lost; reconnecting");
        state.send_replace(State::Down {
            since: Instant::now(),
            error: Arc::from(reason.as_str()),
        });
        events.lost(&reason);
        current.end(&reason);
        current.link.close();
        let mut backoff = FIRST_BACKOFF;
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(jitter(backoff)) => {}
            }
            match connect_any(&config, next, &ending.limits).await {
                Ok((mut session, index)) => {
                    tracing::info!(broker = %session.endpoint, "reconnected");
                    session.reconnected_at = Some(Instant::now());
                    crate::telemetry::reconnected();
                    current = Arc::new(session);
                    next = index;
                    state.send_replace(State::Up(Arc::clone(&current)));
                    break;
                }
                Err(error) => {
                    tracing::debug!(%error, ?backoff, "reconnect failed");
                    let why = match error {
                        RpcError::Connection(why) => why,
                        other => other.to_string(),
                    };
                    state.send_modify(|state| {
                        if let State::Down { error: last, .. } = state {
                            *last = Arc::from(why);
                        }
                    });
                }
            }
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }
}

/// Waits until `session` must be replaced and says why; `None` once `stop`
/// is cancelled.
async fn watch(config: &AmqpConfig, session: &Session, stop: &CancellationToken) -> Option<String> {
    let link = &session.link;
    let health = link.health();
    let ended = link.ended();
    tokio::pin!(ended);
    let mut tick = tokio::time::interval_at(Instant::now() + TICK, TICK);
    let lost = "the connection to the broker was lost";
    loop {
        tokio::select! {
            () = stop.cancelled() => return None,
            () = health.condemned() => break,
            () = &mut ended => return Some(health.reason().unwrap_or_else(|| lost.to_owned())),
            _ = tick.tick() => {
                if !link.is_open() {
                    return Some(health.reason().unwrap_or_else(|| lost.to_owned()));
                }
                if !link.reader_alive().await {
                    health.condemn("the AMQP client stopped reading from the connection");
                }
                let late = session.oldest_unconfirmed().map(|since| since.elapsed());
                if late.is_some_and(|late| late >= alarm::SUSPECT_AFTER) {
                    alarm::spawn(config, &session.endpoint, health, stop.clone());
                }
                if late.is_some_and(|late| late >= CONFIRM_STALL) && !health.is_blocked() {
                    health.condemn(format!(
                        "the broker confirmed nothing for {} s on this connection",
                        CONFIRM_STALL.as_secs()
                    ));
                }
            }
        }
    }
    Some(health.reason().unwrap_or_else(|| lost.to_owned()))
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
