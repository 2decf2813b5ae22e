//! Conformance cases of notifications: priorities, pools, filters, bounded
//! redelivery, and notifications waiting while a pool has no listener.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rpc_runtime::notify::{Notification, NotificationListener, Notifier, Priority};
use rpc_runtime::{Context, RpcError};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::env::Env;

const WAIT: Duration = Duration::from_secs(10);

/// The payload the tests send.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeEvent {
    pub id: u64,
    pub size_gb: u32,
}

/// What a handler saw of one notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    /// Which listener of the inbox saw it.
    pub member: &'static str,
    pub priority: Priority,
    pub event_type: String,
    pub message_id: String,
    pub publisher_id: String,
    pub request_id: String,
    pub payload: Option<VolumeEvent>,
}

/// Collects what a listener's handler saw; can be told to fail.
#[derive(Debug, Clone)]
pub struct Inbox {
    seen: Arc<Mutex<Vec<Seen>>>,
    count: Arc<watch::Sender<usize>>,
    fail: bool,
}

impl Inbox {
    pub fn new() -> Self {
        Self {
            seen: Arc::default(),
            count: Arc::new(watch::Sender::new(0)),
            fail: false,
        }
    }

    /// An inbox whose handler records, then fails.
    pub fn failing() -> Self {
        Self {
            fail: true,
            ..Self::new()
        }
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().expect("lock").clone()
    }

    /// The handler to give a listener.
    pub fn handler(
        &self,
    ) -> impl Fn(Notification) -> std::future::Ready<Result<(), String>> + Send + Sync + 'static
    {
        self.handler_of("")
    }

    /// The handler of one of several listeners sharing this inbox.
    pub fn handler_of(
        &self,
        member: &'static str,
    ) -> impl Fn(Notification) -> std::future::Ready<Result<(), String>> + Send + Sync + 'static
    {
        let inbox = self.clone();
        move |n: Notification| {
            let seen = Seen {
                member,
                priority: n.priority(),
                event_type: n.event_type().to_owned(),
                message_id: n.message_id().to_owned(),
                publisher_id: n.publisher_id().to_owned(),
                request_id: n.context().request_id().to_owned(),
                payload: n.payload().ok(),
            };
            inbox.seen.lock().expect("lock").push(seen);
            inbox.count.send_modify(|c| *c += 1);
            std::future::ready(if inbox.fail {
                Err("refused".to_owned())
            } else {
                Ok(())
            })
        }
    }

    /// Waits until `done(count)` holds; panics after the deadline.
    pub async fn wait(&self, done: impl Fn(usize) -> bool) {
        let mut changes = self.count.subscribe();
        let waiting = async {
            while !done(*changes.borrow_and_update()) {
                if changes.changed().await.is_err() {
                    return;
                }
            }
        };
        if tokio::time::timeout(WAIT, waiting).await.is_err() {
            panic!("inbox condition not met; seen: {:?}", self.seen());
        }
    }
}

impl Default for Inbox {
    fn default() -> Self {
        Self::new()
    }
}

/// A listener builder on this test's notification topic, in `pool`.
async fn listen(env: &Env, pool: Option<&str>) -> rpc_runtime::notify::ListenerBuilder {
    let transport = env.transport().await;
    let builder = NotificationListener::builder(&transport).topics([env.notification_topic()]);
    match pool {
        Some(pool) => builder.pool(env.pool(pool)),
        None => builder,
    }
}

async fn notifier(env: &Env) -> Notifier {
    Notifier::new(&env.transport().await, "volume.host-1").topic(env.notification_topic())
}

pub async fn notification_priorities_are_routed(env: Arc<Env>) {
    let errors = Inbox::new();
    let everything = Inbox::new();
    let _errors = listen(&env, Some("errors"))
        .await
        .priorities([Priority::Error])
        .start(errors.handler())
        .await
        .expect("listen");
    let _everything = listen(&env, Some("all"))
        .await
        .start(everything.handler())
        .await
        .expect("listen");
    let notifier = notifier(&env).await;
    let ctx = Context::new();
    let event = VolumeEvent { id: 7, size_gb: 10 };
    notifier
        .info(&ctx, "volume.create.end", &event)
        .await
        .expect("info");
    notifier
        .error(&ctx, "volume.create.error", &event)
        .await
        .expect("error");
    errors.wait(|n| n >= 1).await;
    everything.wait(|n| n >= 2).await;
    let seen = errors.seen();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(
        (seen[0].priority, seen[0].event_type.as_str()),
        (Priority::Error, "volume.create.error")
    );
    assert_eq!(seen[0].payload, Some(event));
    assert_eq!(seen[0].publisher_id, "volume.host-1");
    assert_eq!(seen[0].request_id, ctx.request_id());
    let all: BTreeSet<_> = everything.seen().into_iter().map(|s| s.priority).collect();
    assert_eq!(all, BTreeSet::from([Priority::Info, Priority::Error]));
}

pub async fn pools_share_and_copy_notifications(env: Arc<Env>) {
    let (shared, other) = (Inbox::new(), Inbox::new());
    let _a1 = listen(&env, Some("shared"))
        .await
        .start(shared.handler_of("a1"))
        .await
        .expect("listen");
    let _a2 = listen(&env, Some("shared"))
        .await
        .start(shared.handler_of("a2"))
        .await
        .expect("listen");
    let _b = listen(&env, Some("other"))
        .await
        .start(other.handler())
        .await
        .expect("listen");
    let notifier = notifier(&env).await;
    for id in 0..20 {
        let event = VolumeEvent { id, size_gb: 1 };
        notifier
            .info(&Context::new(), "volume.create.end", &event)
            .await
            .expect("info");
    }
    other.wait(|n| n >= 20).await;
    shared.wait(|n| n >= 20).await;
    let seen = shared.seen();
    let distinct: BTreeSet<_> = seen.iter().map(|s| s.message_id.clone()).collect();
    assert_eq!(
        (seen.len(), distinct.len()),
        (20, 20),
        "each notification to exactly one pool member"
    );
    let members: BTreeSet<_> = seen.iter().map(|s| s.member).collect();
    assert_eq!(
        members,
        BTreeSet::from(["a1", "a2"]),
        "both pool members got some"
    );
    assert_eq!(
        other.seen().len(),
        20,
        "another pool gets every notification"
    );
}

pub async fn event_type_filters_select_notifications(env: Arc<Env>) {
    let inbox = Inbox::new();
    let listener = listen(&env, Some("volumes"))
        .await
        .event_types(["volume.*"])
        .start(inbox.handler())
        .await
        .expect("listen");
    let notifier = notifier(&env).await;
    let ctx = Context::new();
    for event_type in [
        "volume.create.end",
        "backup.create.end",
        "volume.delete.end",
    ] {
        notifier
            .info(&ctx, event_type, &VolumeEvent { id: 1, size_gb: 1 })
            .await
            .expect("info");
    }
    inbox.wait(|n| n >= 2).await;
    let filtered = async {
        while listener.stats().filtered < 1 {
            tokio::task::yield_now().await;
        }
    };
    tokio::time::timeout(WAIT, filtered)
        .await
        .expect("the backup event was filtered");
    let types: Vec<_> = inbox.seen().into_iter().map(|s| s.event_type).collect();
    assert_eq!(types.len(), 2);
    assert!(types.iter().all(|t| t.starts_with("volume.")), "{types:?}");
}

pub async fn a_failing_handler_is_retried_then_given_up(env: Arc<Env>) {
    let inbox = Inbox::failing();
    let listener = listen(&env, Some("picky"))
        .await
        .max_redeliveries(2)
        .start(inbox.handler())
        .await
        .expect("listen");
    notifier(&env)
        .await
        .info(
            &Context::new(),
            "volume.create.end",
            &VolumeEvent { id: 1, size_gb: 1 },
        )
        .await
        .expect("info");
    let given_up = async {
        while listener.stats().dropped < 1 {
            tokio::task::yield_now().await;
        }
    };
    tokio::time::timeout(WAIT, given_up)
        .await
        .expect("the listener gave up");
    let stats = listener.stats();
    assert_eq!(
        (stats.retried, stats.dropped, stats.handled),
        (2, 1, 0),
        "{:?}",
        inbox.seen()
    );
    let seen = inbox.seen();
    assert_eq!(seen.len(), 3, "one delivery and two redeliveries: {seen:?}");
    assert!(seen.iter().all(|s| s.message_id == seen[0].message_id));
}

pub async fn notifications_wait_for_a_restarted_pool(env: Arc<Env>) {
    let first = Inbox::new();
    let listener = listen(&env, Some("billing"))
        .await
        .start(first.handler())
        .await
        .expect("listen");
    listener.shutdown().await;
    let notifier = notifier(&env).await;
    for id in 0..5 {
        notifier
            .info(
                &Context::new(),
                "volume.create.end",
                &VolumeEvent { id, size_gb: 1 },
            )
            .await
            .expect("info");
    }
    let again = Inbox::new();
    let _listener = listen(&env, Some("billing"))
        .await
        .start(again.handler())
        .await
        .expect("listen");
    again.wait(|n| n >= 5).await;
    let ids: BTreeSet<u64> = again
        .seen()
        .into_iter()
        .filter_map(|s| s.payload.map(|p| p.id))
        .collect();
    assert_eq!(ids, (0..5).collect());
    assert!(first.seen().is_empty());
}

pub async fn a_notifier_refuses_a_payload_it_cannot_encode(env: Arc<Env>) {
    // A map with non-string keys is fine for bincode; an oversized payload is not.
    let notifier = notifier(&env).await;
    let huge = vec![0u8; 17 * 1024 * 1024];
    match notifier
        .info(&Context::new(), "volume.create.end", &huge)
        .await
    {
        Err(RpcError::Encode { .. }) => {}
        other => panic!("expected Encode, got {other:?}"),
    }
}

pub async fn an_unread_notification_queue_stays_bounded(env: Arc<Env>) {
    let notifier = notifier(&env).await.max_queue_length(3);
    let ctx = Context::new();
    for id in 0..5 {
        notifier
            .info(&ctx, "volume.create.end", &VolumeEvent { id, size_gb: 1 })
            .await
            .expect("info");
    }
    // Nobody listened: only the newest three waited.
    let inbox = Inbox::new();
    let _listener = listen(&env, None)
        .await
        .priorities([Priority::Info])
        .max_queue_length(3)
        .concurrency(1)
        .start(inbox.handler())
        .await
        .expect("listen");
    inbox.wait(|n| n >= 3).await;
    notifier
        .info(
            &ctx,
            "volume.create.end",
            &VolumeEvent { id: 9, size_gb: 1 },
        )
        .await
        .expect("info");
    inbox.wait(|n| n >= 4).await;
    let ids: Vec<u64> = inbox
        .seen()
        .into_iter()
        .filter_map(|s| s.payload.map(|p| p.id))
        .collect();
    assert_eq!(ids, [2, 3, 4, 9]);
}
