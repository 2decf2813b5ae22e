//! Queues go with the servers that leave: a server that stops cleanly
//! removes its own `topic.server` queue, unless another process of the same
//! name still consumes it; a call to a server that left then fails at once.

use std::sync::Arc;
use std::time::Duration;

use rpc_runtime::{Context, RpcError};

use crate::env::Env;
use crate::volume::Log;

pub async fn a_stopped_server_leaves_no_queue_behind(env: Arc<Env>) {
    let log = Arc::new(Log::default());
    // Two workers of one service on one host share its server queue.
    let first = env.server("host-4", &log).await;
    let second = env.server("host-4", &log).await;
    let client = env
        .client(&env.transport().await)
        .timeout(Duration::from_secs(30));
    let ctx = Context::new();

    // One of them stops: the other still consumes the queue, which stays.
    assert!(first.shutdown().await);
    for _ in 0..4 {
        let answer = client.to_server("host-4").whoami(&ctx).await;
        assert_eq!(answer, Ok("host-4".to_owned()));
    }

    // The last one stops: the queue goes with it. With a 30 s timeout, only
    // an immediate refusal can produce this error.
    assert!(second.shutdown().await);
    match client.to_server("host-4").whoami(&ctx).await {
        Err(RpcError::Undeliverable { destination }) => {
            assert_eq!(destination, format!("{}.host-4", env.topic));
        }
        other => panic!("expected Undeliverable, got {other:?}"),
    }
    // A cast to it is refused too, instead of piling up for nobody.
    match client.to_server("host-4").delete_volume(&ctx, 1).await {
        Err(RpcError::Undeliverable { .. }) => {}
        other => panic!("expected Undeliverable, got {other:?}"),
    }
    // The topic queue is shared by every server of the topic: it stays, so
    // a server that comes back finds the casts sent to the topic meanwhile.
    client
        .delete_volume(&ctx, 2)
        .await
        .expect("cast to the topic");
}
