//! `Transport::queue_status` and `Transport::exchange_exists` tell what the
//! broker holds without creating anything, on RabbitMQ and in memory: the
//! counts `rpcctl topology` shows.

use std::sync::Arc;

use rpc_runtime::wire::Wire;
use rpc_tests::volume::Log;
use rpc_tests::{Env, Kind, env::run};

async fn counts_what_is_there(env: Arc<Env>) {
    let transport = env.transport().await;
    let queue = format!("{}.host-1", env.topic);
    assert_eq!(
        transport.queue_status(&queue).await.expect("ask"),
        None,
        "no server yet"
    );
    let log = Arc::new(Log::default());
    let server = env.server("host-1", &log).await;
    let status = transport
        .queue_status(&queue)
        .await
        .expect("ask")
        .expect("the server's queue exists");
    assert_eq!((status.messages, status.consumers), (0, 1));
    assert!(transport.exchange_exists(&env.exchange).await.expect("ask"));
    let missing = format!("{}-missing", env.exchange);
    assert!(!transport.exchange_exists(&missing).await.expect("ask"));
    // A question the broker said no to leaves the transport working.
    assert!(transport.queue_status(&queue).await.expect("ask").is_some());
    server.shutdown().await;
    let _ = env;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inspects_rabbitmq() {
    run(Kind::Amqp, Wire::Native, counts_what_is_there).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inspects_memory() {
    run(Kind::Memory, Wire::Native, counts_what_is_there).await;
}
