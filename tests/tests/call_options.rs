//! Per-call options on RabbitMQ: a cast sent with `cast_ttl` that no
//! server takes in time is dropped by the broker, while one without it
//! waits for the next server.

use std::sync::Arc;
use std::time::Duration;

use rpc_runtime::Context;
use rpc_tests::volume::{Event, Log};
use rpc_tests::{Env, Kind};

const WAIT: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_cast_with_a_ttl_never_reaches_the_next_server() {
    let Some(env) = Env::new(Kind::Amqp).await else {
        return;
    };
    let log = Arc::new(Log::default());
    // A server declares the topic's queue, then stops: casts wait there.
    env.server("host-1", &log).await.shutdown().await;
    let transport = env.transport().await;
    let client = env.client(&transport);
    let ctx = Context::new();
    client
        .with_options(|o| o.cast_ttl(Duration::from_millis(100)))
        .delete_volume(&ctx, 1)
        .await
        .expect("the broker confirms the cast with a TTL");
    client
        .delete_volume(&ctx, 2)
        .await
        .expect("the broker confirms the cast without one");

    // The broker drops the first once its TTL passed; the second waits.
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let status = transport
            .queue_status(&env.topic)
            .await
            .expect("queue status")
            .expect("the topic queue exists");
        if status.messages == 1 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the cast with a TTL is still queued: {status:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // The next server gets only the cast without a TTL (the queue is FIFO:
    // had the first survived, it would have run before).
    let _server = env.server("host-2", &log).await;
    log.wait_for(WAIT, |events| {
        events
            .iter()
            .any(|(_, e)| matches!(e, Event::Deleted { id: 2, .. }))
    })
    .await;
    let deleted: Vec<u64> = log
        .events()
        .iter()
        .filter_map(|(_, e)| match e {
            Event::Deleted { id, .. } => Some(*id),
            _ => None,
        })
        .collect();
    assert_eq!(deleted, [2], "the stale cast was dropped by the broker");
    env.cleanup().await;
}
