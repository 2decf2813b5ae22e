//! Queue-level failures and options on RabbitMQ: a server whose queues are
//! deleted under it (the broker cancels its consumers) consumes again by
//! itself, quorum queues are declared as such, and a server queue that
//! exists without the expiry a server asks for is used as it is.

use std::sync::Arc;
use std::time::Duration;

use amqprs::channel::{QueueDeclareArguments, QueueDeleteArguments};
use rpc_runtime::{Context, RpcError};
use rpc_tests::env::{broker_queues, raw_connection};
use rpc_tests::volume::Log;
use rpc_tests::{Env, Kind};

const WAIT: Duration = Duration::from_secs(20);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_whose_queues_were_deleted_is_not_left_deaf() {
    let Some(env) = Env::new(Kind::Amqp).await else {
        return;
    };
    let log = Arc::new(Log::default());
    let _server = env.server("host-1", &log).await;
    let client = env
        .client(&env.transport().await)
        .timeout(Duration::from_secs(2));
    let ctx = Context::new();
    assert_eq!(
        client.to_server("host-1").whoami(&ctx).await.expect("call"),
        "host-1"
    );

    // An operator (or a failover) deletes the queues: the broker cancels
    // the server's consumers.
    let connection = raw_connection().await.expect("connect");
    let channel = connection.open_channel(None).await.expect("channel");
    for queue in [env.topic.clone(), format!("{}.host-1", env.topic)] {
        channel
            .queue_delete(QueueDeleteArguments::new(&queue))
            .await
            .expect("delete");
    }
    let _ = connection.close().await;

    // The server declares them again and consumes; calls get through again.
    let back = async {
        loop {
            match client.to_server("host-1").whoami(&ctx).await {
                Ok(host) => return host,
                Err(RpcError::Undeliverable { .. } | RpcError::Timeout { .. }) => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(other) => panic!("unexpected {other:?}"),
            }
        }
    };
    assert_eq!(
        tokio::time::timeout(WAIT, back)
            .await
            .expect("the server consumes again"),
        "host-1"
    );
    assert_eq!(
        client.whoami(&ctx).await.expect("the topic queue too"),
        "host-1"
    );
    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quorum_queues_are_declared_as_quorum() {
    let Some(env) = Env::new(Kind::Amqp).await else {
        return;
    };
    let log = Arc::new(Log::default());
    let _server = env
        .server_with("host-1", &log, |b| b.quorum_queues(Some(5)))
        .await;
    let client = env.client(&env.transport().await);
    assert_eq!(
        client.whoami(&Context::new()).await.expect("call"),
        "host-1"
    );
    if let Some(listing) = broker_queues() {
        let listed = |name: &str| {
            (listing.iter().find(|q| q.name == name))
                .unwrap_or_else(|| panic!("`{name}` not listed: {listing:?}"))
        };
        for queue in [env.topic.clone(), format!("{}.host-1", env.topic)] {
            let queue = listed(&queue);
            assert!(queue.kind == "quorum" && queue.durable, "{queue:?}");
            assert!(queue.arguments.contains("x-delivery-limit"), "{queue:?}");
        }
        let fanout = listing
            .iter()
            .find(|q| q.name.starts_with(&format!("{}_fanout_", env.topic)))
            .expect("the fanout queue");
        assert_eq!(fanout.kind, "classic", "{fanout:?}");
    }
    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_queue_declared_without_expiry_is_used_as_it_is() {
    let Some(env) = Env::new(Kind::Amqp).await else {
        return;
    };
    // An older version (or a Python server) declared the queue without
    // `x-expires`: RabbitMQ refuses a declaration with other arguments.
    let queue = format!("{}.host-1", env.topic);
    let connection = raw_connection().await.expect("connect");
    let channel = connection.open_channel(None).await.expect("channel");
    channel
        .queue_declare(QueueDeclareArguments::new(&queue))
        .await
        .expect("declare");
    let _ = connection.close().await;

    let log = Arc::new(Log::default());
    let _server = env
        .server_with("host-1", &log, |b| {
            b.server_queue_expiry(Some(Duration::from_secs(60)))
        })
        .await;
    let client = env
        .client(&env.transport().await)
        .timeout(Duration::from_secs(5));
    let ctx = Context::new();
    assert_eq!(
        client.to_server("host-1").whoami(&ctx).await.expect("call"),
        "host-1"
    );
    if let Some(listing) = broker_queues() {
        let listed = listing
            .iter()
            .find(|q| q.name == queue)
            .unwrap_or_else(|| panic!("`{queue}` not listed: {listing:?}"));
        assert!(!listed.arguments.contains("x-expires"), "{listed:?}");
    }
    env.cleanup().await;
}
