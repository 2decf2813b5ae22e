//! What a session knows about its own health, from every part that uses it.
//!
//! A connection can be open and useless: amqprs's reader task gone, a
//! broker that refuses every publish after a failover, channel ids leaked
//! until none is left. Publishers, consumers and channel callbacks report
//! what they see here; the supervisor ([`super::supervisor`]) replaces the
//! session once it is condemned, exactly as after a lost connection.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// A run of negative confirms this long, with no positive one in between,
/// means the session cannot deliver (a publishing channel stuck on a queue
/// leader that is gone); a fresh session can.
const NACK_RUN: Duration = Duration::from_secs(2);

/// Fewer nacks than this never condemn a session, however long apart.
const NACK_RUN_COUNT: usize = 3;

/// One session's health.
#[derive(Debug)]
pub(super) struct Health {
    condemned: CancellationToken,
    reason: Mutex<Option<String>>,
    /// Channels the broker closed on this connection; amqprs never frees
    /// their ids, and panics when it runs out of them.
    closed_by_broker: AtomicUsize,
    /// Replace the session once this many channel ids leaked.
    leak_limit: usize,
    /// Why the broker blocks publishing (a memory or disk alarm), while it
    /// does: confirms are late for a reason a new session would not fix.
    blocked: Mutex<Option<String>>,
    /// Whether an alarm probe ([`super::alarm`]) runs for this session.
    probing: AtomicBool,
    nacks: Mutex<NackRun>,
    /// Whether a run of nacks is open (so an ack need not lock).
    refusing: AtomicBool,
}

#[derive(Debug, Default)]
struct NackRun {
    since: Option<Instant>,
    count: usize,
}

impl Health {
    /// A healthy session whose connection has `channel_max` channel ids.
    pub(super) fn new(channel_max: u16) -> Self {
        // Leave room for the channels in use and those opened meanwhile.
        let leak_limit = usize::from(channel_max.max(64)) / 2;
        Self {
            condemned: CancellationToken::new(),
            reason: Mutex::new(None),
            closed_by_broker: AtomicUsize::new(0),
            leak_limit,
            blocked: Mutex::new(None),
            probing: AtomicBool::new(false),
            nacks: Mutex::default(),
            refusing: AtomicBool::new(false),
        }
    }

    /// Marks the session unusable; the first reason is kept.
    pub(super) fn condemn(&self, reason: impl Into<String>) {
        {
            let mut slot = self.reason.lock().unwrap_or_else(PoisonError::into_inner);
            if slot.is_none() {
                *slot = Some(reason.into());
            }
        }
        self.condemned.cancel();
    }

    /// Why the session was condemned, if it was.
    pub(super) fn reason(&self) -> Option<String> {
        self.reason
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Resolves once the session is condemned.
    pub(super) async fn condemned(&self) {
        self.condemned.cancelled().await;
    }

    pub(super) fn is_condemned(&self) -> bool {
        self.condemned.is_cancelled()
    }

    /// The broker closed one of this connection's channels.
    pub(super) fn channel_closed_by_broker(&self) {
        let closed = self.closed_by_broker.fetch_add(1, Ordering::Relaxed) + 1;
        if closed >= self.leak_limit {
            self.condemn(format!(
                "the broker closed {closed} channels on this connection; replacing it before the AMQP client runs out of channel ids"
            ));
        }
    }

    /// The broker blocks publishing for `reason` (its words: `low on
    /// memory`, `low on disk`), or (`None`) no longer does.
    pub(super) fn set_blocked(&self, reason: Option<String>) {
        *self.blocked.lock().unwrap_or_else(PoisonError::into_inner) = reason;
    }

    /// Why the broker blocks publishing, if it does.
    pub(super) fn blocked(&self) -> Option<String> {
        self.blocked
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Whether the broker currently blocks publishing.
    pub(super) fn is_blocked(&self) -> bool {
        self.blocked
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_some()
    }

    /// Marks an alarm probe as started; false if one runs already.
    pub(super) fn start_probing(&self) -> bool {
        !self.probing.swap(true, Ordering::AcqRel)
    }

    /// Marks the alarm probe as ended.
    pub(super) fn stop_probing(&self) {
        self.probing.store(false, Ordering::Release);
    }

    /// A publish was confirmed: whatever refused the ones before is over.
    pub(super) fn acked(&self) {
        if !self.refusing.load(Ordering::Relaxed) {
            return;
        }
        *self.nacks.lock().unwrap_or_else(PoisonError::into_inner) = NackRun::default();
        self.refusing.store(false, Ordering::Relaxed);
    }

    /// A publish was refused; a long enough run of them condemns the session.
    pub(super) fn nacked(&self, refused: usize) {
        let now = Instant::now();
        self.refusing.store(true, Ordering::Relaxed);
        let condemn = {
            let mut run = self.nacks.lock().unwrap_or_else(PoisonError::into_inner);
            let since = *run.since.get_or_insert(now);
            run.count += refused;
            run.count >= NACK_RUN_COUNT && now.duration_since(since) >= NACK_RUN
        };
        if condemn {
            self.condemn(format!(
                "the broker refused every publish for {} s on this connection",
                NACK_RUN.as_secs()
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_run_of_nacks_condemns_only_when_long_and_unbroken() {
        let health = Health::new(2047);
        health.nacked(1);
        tokio::time::advance(Duration::from_secs(3)).await;
        health.acked();
        health.nacked(5);
        assert!(!health.is_condemned(), "an ack ends a run");
        tokio::time::advance(Duration::from_secs(1)).await;
        health.nacked(1);
        assert!(!health.is_condemned(), "a short run is tolerated");
        tokio::time::advance(Duration::from_secs(1)).await;
        health.nacked(1);
        assert!(health.is_condemned());
        assert!(health.reason().unwrap().contains("refused every publish"));
    }

    #[test]
    fn leaked_channel_ids_condemn_before_they_run_out() {
        let health = Health::new(2047);
        for _ in 0..1022 {
            health.channel_closed_by_broker();
        }
        assert!(!health.is_condemned());
        health.channel_closed_by_broker();
        assert!(health.is_condemned());
        health.condemn("another reason");
        assert!(health.reason().unwrap().contains("channel ids"));
    }
}
