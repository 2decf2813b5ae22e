//! Whether the queues a session consumes still exist, asked for the whole
//! session at a bounded rate. RabbitMQ tells a consumer when its queue is
//! deleted (`basic.cancel`), but not always for a quorum queue; so quorum
//! queues and streams are also checked with a passive declare. Each name is
//! asked about once however many subscriptions consume it (all servers of
//! a topic share its topic queue), each at most every [`CYCLE`], and a
//! session asks at most [`MOST_PER_SECOND`] questions a second: the
//! broker's idle load stays flat as servers are added (with thousands of
//! queues, a full round takes longer than [`CYCLE`]).

use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::admin::Admin;

/// How long a round over few queues takes.
const CYCLE: Duration = Duration::from_secs(5);

/// How many queues a session asks about each second, at most.
const MOST_PER_SECOND: usize = 20;

const TICK: Duration = Duration::from_secs(1);

/// Who waits to hear that a queue is gone: a subscription's token, by id.
type Watchers = Vec<(u64, CancellationToken)>;

#[derive(Default)]
struct Registry {
    queues: BTreeMap<String, Watchers>,
    next_id: u64,
    /// The last queue asked about: the next round goes on after it.
    cursor: Option<String>,
}

/// The queues a session checks, and who to tell.
#[derive(Default)]
pub(super) struct QueueChecks {
    registry: Mutex<Registry>,
}

/// Stops watching when dropped.
pub(super) struct Watching {
    checks: Weak<QueueChecks>,
    id: u64,
    queues: Vec<String>,
}

impl QueueChecks {
    /// Starts checking on `admin`'s session; the checks end with the
    /// session (when the last handle on either goes).
    pub(super) fn start(admin: &Arc<Admin>) -> Arc<Self> {
        let checks = Arc::new(Self::default());
        tokio::spawn(run(Arc::downgrade(&checks), Arc::downgrade(admin)));
        checks
    }

    /// Cancels `gone` once one of `queues` is found missing.
    pub(super) fn watch(
        self: &Arc<Self>,
        queues: Vec<String>,
        gone: CancellationToken,
    ) -> Watching {
        let mut registry = self.registry();
        let id = registry.next_id;
        registry.next_id += 1;
        for queue in &queues {
            let watchers = registry.queues.entry(queue.clone()).or_default();
            watchers.push((id, gone.clone()));
        }
        Watching {
            checks: Arc::downgrade(self),
            id,
            queues,
        }
    }

    fn registry(&self) -> std::sync::MutexGuard<'_, Registry> {
        self.registry.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The queues to ask about this tick, going round from the cursor.
    fn next_batch(&self) -> Vec<String> {
        let mut registry = self.registry();
        let total = registry.queues.len();
        let per_tick = total
            .div_ceil(CYCLE.as_secs().max(1) as usize)
            .clamp(1, MOST_PER_SECOND);
        let after = match &registry.cursor {
            Some(name) => Bound::Excluded(name.clone()),
            None => Bound::Unbounded,
        };
        let mut batch: Vec<String> = registry
            .queues
            .range::<String, _>((after, Bound::Unbounded))
            .map(|(name, _)| name.clone())
            .take(per_tick)
            .collect();
        if batch.len() < per_tick {
            // Round again from the first, up to where this batch began.
            let more = per_tick.min(total) - batch.len();
            let wrapped: Vec<String> = (registry.queues.keys())
                .take(more)
                .filter(|name| !batch.contains(name))
                .cloned()
                .collect();
            batch.extend(wrapped);
        }
        registry.cursor = batch.last().cloned();
        batch
    }

    /// Tells everyone watching `queue` that it is gone; whether anyone was.
    fn gone(&self, queue: &str) -> bool {
        let watchers = self.registry().queues.remove(queue).unwrap_or_default();
        for (_, token) in &watchers {
            token.cancel();
        }
        !watchers.is_empty()
    }
}

impl Drop for Watching {
    fn drop(&mut self) {
        let Some(checks) = self.checks.upgrade() else {
            return;
        };
        let mut registry = checks.registry();
        for queue in &self.queues {
            if let Some(watchers) = registry.queues.get_mut(queue) {
                watchers.retain(|(id, _)| *id != self.id);
                if watchers.is_empty() {
                    registry.queues.remove(queue);
                }
            }
        }
    }
}

async fn run(checks: Weak<QueueChecks>, admin: Weak<Admin>) {
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tick.tick().await;
        let Some(batch) = checks.upgrade().map(|checks| checks.next_batch()) else {
            return;
        };
        for queue in batch {
            let Some(asked) = admin.upgrade() else {
                return;
            };
            if let Ok(false) = asked.queue_exists(&queue).await {
                let Some(checks) = checks.upgrade() else {
                    return;
                };
                // Not for a queue its last server removed as it stopped.
                if checks.gone(&queue) {
                    tracing::warn!(%queue, "a consumed queue is gone; declaring it again");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("q{i:04}")).collect()
    }

    #[test]
    fn a_round_asks_about_every_queue_once_and_at_a_bounded_rate() {
        let checks = Arc::new(QueueChecks::default());
        let _watching: Vec<Watching> = names(1000)
            .into_iter()
            .map(|q| checks.watch(vec![q, "shared".into()], CancellationToken::new()))
            .collect();
        let mut asked = Vec::new();
        for _ in 0..51 {
            let batch = checks.next_batch();
            assert_eq!(batch.len(), MOST_PER_SECOND);
            asked.extend(batch);
        }
        let round = &asked[..1001];
        let mut distinct = round.to_vec();
        distinct.sort();
        distinct.dedup();
        assert_eq!(distinct.len(), 1001, "one round asks each name once");
        assert_eq!(asked[1001], asked[0], "the next round starts over");
    }

    #[test]
    fn few_queues_are_each_asked_about_within_a_cycle() {
        let checks = Arc::new(QueueChecks::default());
        let _a = checks.watch(names(3), CancellationToken::new());
        let mut seen = Vec::new();
        for _ in 0..CYCLE.as_secs() {
            seen.extend(checks.next_batch());
        }
        for name in names(3) {
            assert!(seen.contains(&name), "{name} not asked about: {seen:?}");
        }
    }

    #[test]
    fn a_gone_queue_tells_each_watcher_and_a_dropped_watch_asks_no_more() {
        let checks = Arc::new(QueueChecks::default());
        let (one, two) = (CancellationToken::new(), CancellationToken::new());
        let _a = checks.watch(vec!["topic".into(), "topic.a".into()], one.clone());
        let b = checks.watch(vec!["topic".into(), "topic.b".into()], two.clone());
        assert!(checks.gone("topic"));
        assert!(one.is_cancelled() && two.is_cancelled());
        assert!(!checks.gone("topic"), "nobody watches it any more");
        drop(b);
        let left: Vec<String> = checks.registry().queues.keys().cloned().collect();
        assert_eq!(left, vec!["topic.a".to_owned()]);
    }
}
