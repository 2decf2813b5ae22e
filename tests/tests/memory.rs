//! The conformance suite on the in-memory transport, and its load test.

use std::sync::Arc;

use rpc_runtime::Context;
use rpc_tests::volume::Log;
use rpc_tests::{Env, Kind};
use tokio::task::JoinSet;

rpc_tests::conformance_suite!(rpc_tests::Kind::Memory);
rpc_tests::streaming_suite!(rpc_tests::Kind::Memory);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundred_thousand_calls_from_64_tasks() {
    let env = Env::new(Kind::Memory)
        .await
        .expect("memory is always there");
    let log = Arc::new(Log::default());
    let _server = env.server("host-1", &log).await;
    let transport = env.transport().await;
    let client = env.client(&transport);
    let mut tasks = JoinSet::new();
    for task in 0..64u64 {
        let client = client.clone();
        tasks.spawn(async move {
            let ctx = Context::new();
            let mut answered = 0u64;
            let mut n = task;
            while n < 100_000 {
                assert_eq!(
                    client
                        .get_volume(&ctx, n % 1000)
                        .await
                        .expect("call")
                        .map(|v| v.id),
                    Some(n % 1000)
                );
                answered += 1;
                n += 64;
            }
            answered
        });
    }
    let mut total = 0;
    while let Some(answered) = tasks.join_next().await {
        total += answered.expect("task");
    }
    assert_eq!(total, 100_000);
    assert_eq!(transport.pending_calls(), 0);
    env.cleanup().await;
}
