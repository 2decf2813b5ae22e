//! oslo.messaging's newer `[oslo_messaging_rabbit]` queue options, each
//! read from one nova.conf-style file by a Rust server, the real
//! oslo.messaging server and both sides' callers, on one topic: a Rust
//! server declares first, the Python server joins (it would die on a
//! `406 PRECONDITION_FAILED` if the queues differed), a second Rust server
//! joins after it. Each caller reaches each server by name, the topic
//! queue, and every server through a fanout; the broker shows the queues
//! the options ask for.

use std::sync::Arc;
use std::time::Duration;

use amqprs::channel::ExchangeDeleteArguments;
use rpc_runtime::wire::Wire;
use rpc_runtime::{Context, Server, Transport};
use rpc_tests::cluster::eventually_async;
use rpc_tests::env::{BrokerQueue, amqp_url, broker_queues, rabbitmqctl, raw_connection};
use rpc_tests::oslo::{RustStorage, StorageClient, StorageService};
use rpc_tests::python::Python;
use rpc_tests::{Env, Kind};
use serde_json::json;

const WAIT: Duration = Duration::from_secs(20);
const SERVERS: [&str; 3] = ["rust-1", "py-1", "rust-2"];

/// The broker's queues of `topic`.
fn queues(topic: &str) -> Vec<BrokerQueue> {
    let mut queues = broker_queues().unwrap_or_default();
    queues.retain(|q| {
        q.name == topic
            || q.name.starts_with(&format!("{topic}."))
            || q.name.starts_with(&format!("{topic}_fanout"))
    });
    queues
}

/// Runs the mixed topic with `options` under `[oslo_messaging_rabbit]`;
/// returns the broker's queues of the topic while all three serve.
async fn mixed_topic(options: &str) -> Option<Vec<BrokerQueue>> {
    let env = Env::speaking(Kind::Amqp, Wire::Oslo).await?;
    let python = Python::find()?;
    let path = std::env::temp_dir().join(format!("{}.conf", env.topic));
    let url = amqp_url().replacen("amqp://", "rabbit://", 1);
    // An exchange of its own: with quorum or durable queues, oslo declares
    // it durable, and the test environment's is not.
    let exchange = format!("{}-options", env.exchange);
    // oslo's queue manager keeps its counter under a lock in `lock_path`.
    let locks = std::env::temp_dir().display().to_string();
    let text = format!(
        "[DEFAULT]\ntransport_url = {url}\ncontrol_exchange = {exchange}\n\n\
         [oslo_messaging_rabbit]\nrabbit_qos_prefetch_count = 10\n{options}\n\n\
         [oslo_concurrency]\nlock_path = {locks}\n"
    );
    std::fs::write(&path, text).expect("write the config file");

    let serve = |name: &'static str| {
        let (path, topic) = (path.clone(), env.topic.clone());
        async move {
            let transport = Transport::from_oslo_config(&path).await.expect("connect");
            let storage = StorageService::from_arc(Arc::new(RustStorage::new(name)));
            let server = Server::builder(&transport, name)
                .serve_on(&topic, storage)
                .start()
                .await
                .expect("the Rust server starts");
            (transport, server)
        }
    };
    for name in SERVERS {
        env.track_server(name);
    }
    let first = serve("rust-1").await;
    let _python_server = python.server_configured_by(&path, &env.topic, "py-1").await;
    let second = serve("rust-2").await;

    // A Rust caller: each server by name, the topic, a fanout to all.
    let caller = Transport::from_oslo_config(&path).await.expect("connect");
    let client = StorageClient::new(&caller)
        .topic(&env.topic)
        .timeout(Duration::from_secs(10));
    let ctx = Context::new();
    for name in SERVERS {
        let answer = client.to_server(name).whoami(&ctx).await;
        assert_eq!(
            answer.as_deref(),
            Ok(name),
            "{options}: a Rust call to {name}"
        );
    }
    let any = client.whoami(&ctx).await.expect("a call to the topic");
    assert!(SERVERS.contains(&any.as_str()), "{any}");
    client
        .fanout()
        .record(&ctx, "from-rust".into())
        .await
        .expect("fanout");

    // A Python caller, configured by the same file.
    let mut operations = Vec::new();
    for name in SERVERS {
        operations.push(json!({"kind": "call", "method": "whoami", "prepare": {"server": name}}));
    }
    operations.push(
        json!({"kind": "cast", "method": "record", "args": {"note": "from-python"},
                           "prepare": {"fanout": true}}),
    );
    let outcomes = python
        .client_configured_by(&path, &env.topic, &json!(operations))
        .await;
    for (name, outcome) in SERVERS.iter().zip(&outcomes) {
        assert_eq!(
            outcome["ok"], *name,
            "{options}: a Python call to {name}: {outcomes:?}"
        );
    }
    assert!(
        outcomes[3].get("ok").is_some(),
        "{options}: the Python fanout: {outcomes:?}"
    );

    // Both fanouts reached every server.
    for name in SERVERS {
        let heard = || async {
            let notes = client.to_server(name).notes(&ctx).await.unwrap_or_default();
            notes.contains(&"from-rust".to_owned()) && notes.contains(&"from-python".to_owned())
        };
        assert!(
            eventually_async(WAIT, heard).await,
            "{options}: {name} missed a fanout"
        );
    }
    let seen = queues(&env.topic);

    caller.close().await;
    for (transport, server) in [first, second] {
        server.shutdown().await;
        transport.close().await;
    }
    let _ = std::fs::remove_file(&path);
    for queue in queues(&env.topic) {
        let _ = rabbitmqctl(&["delete_queue", &queue.name]);
    }
    if let Ok(connection) = raw_connection().await {
        if let Ok(channel) = connection.open_channel(None).await {
            let _ = channel
                .exchange_delete(ExchangeDeleteArguments::new(&exchange))
                .await;
            let _ = channel.close().await;
        }
        let _ = connection.close().await;
    }
    env.cleanup().await;
    Some(seen)
}

/// The topic queue among a topic's queues.
fn topic_queue(queues: &[BrokerQueue]) -> &BrokerQueue {
    queues
        .iter()
        .find(|q| !q.name.contains('.') && !q.name.contains("_fanout"))
        .unwrap_or_else(|| panic!("no topic queue in {queues:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quorum_queues_with_a_delivery_limit() {
    let Some(seen) =
        mixed_topic("rabbit_quorum_queue = true\nrabbit_quorum_delivery_limit = 3").await
    else {
        return;
    };
    let topic = topic_queue(&seen);
    assert_eq!(
        (topic.kind.as_str(), topic.durable),
        ("quorum", true),
        "{seen:?}"
    );
    assert!(
        topic.arguments.contains("x-delivery-limit") && topic.arguments.contains('3'),
        "{topic:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quorum_queues_and_stream_fanout_on_a_mixed_topic() {
    let options = "rabbit_quorum_queue = true\nrabbit_transient_quorum_queue = true\n\
                   rabbit_stream_fanout = true\nrabbit_transient_queues_ttl = 600";
    let Some(seen) = mixed_topic(options).await else {
        return;
    };
    let streams: Vec<_> = seen.iter().filter(|q| q.kind == "stream").collect();
    assert_eq!(
        streams.len(),
        1,
        "one stream per topic, no fanout queue per server: {seen:?}"
    );
    assert!(
        streams[0].name.ends_with("_fanout") && streams[0].arguments.contains("600s"),
        "{streams:?}"
    );
    assert!(
        seen.iter()
            .filter(|q| q.kind != "stream")
            .all(|q| q.kind == "quorum"),
        "{seen:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transient_quorum_fanout_queues_named_by_the_queue_manager() {
    let options = "rabbit_transient_quorum_queue = true\nuse_queue_manager = true\n\
                   rabbit_transient_queues_ttl = 60";
    let Some(seen) = mixed_topic(options).await else {
        return;
    };
    let fanouts: Vec<_> = seen
        .iter()
        .filter(|q| q.name.contains("_fanout_"))
        .collect();
    // Both Rust servers' and the Python server's: quorum queues that expire.
    assert_eq!(fanouts.len(), 3, "{seen:?}");
    for fanout in fanouts {
        assert_eq!(
            (fanout.kind.as_str(), fanout.durable),
            ("quorum", true),
            "{fanout:?}"
        );
        assert!(
            fanout.arguments.contains("x-expires") && fanout.arguments.contains("60000"),
            "{fanout:?}"
        );
    }
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let named = seen
        .iter()
        .filter(|q| q.name.contains(&format!("_fanout_{}:", host.trim())))
        .count();
    assert_eq!(named, 3, "the queue manager's names, host first: {seen:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn durable_queues_and_cancel_on_failover() {
    let options = "amqp_durable_queues = true\nenable_cancel_on_failover = true";
    let Some(seen) = mixed_topic(options).await else {
        return;
    };
    let topic = topic_queue(&seen);
    assert_eq!(
        (topic.kind.as_str(), topic.durable),
        ("classic", true),
        "{seen:?}"
    );
}
