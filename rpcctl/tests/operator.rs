//! What an operator meets with rpcctl, run as a process on RabbitMQ: each
//! broker refusal its own line and exit code, casts that queue while no
//! server consumes (see `casts.rs`), left-over queues shown, JSON everywhere, and
//! no panic on any timeout.

use std::sync::Arc;

use amqprs::channel::QueueDeclareArguments;
use rpc_runtime::AmqpConfig;
use rpc_tests::env::{amqp_url, raw_connection};
use rpc_tests::volume::Log;
use rpc_tests::{Env, Kind};
use serde_json::Value;
use support::{json, rpcctl, rpcctl_at, stderr, stdout};

mod support;

/// The test broker's URL with `user:password`, host, port and vhost replaced.
fn url_with(password: &str, port: Option<u16>, vhost: &str) -> String {
    let config = AmqpConfig::from_url(&amqp_url()).expect("url");
    format!(
        "amqp://{}:{password}@{}:{}/{vhost}",
        config.username(),
        config.host(),
        port.unwrap_or(config.port())
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_broker_refusal_has_its_own_line_and_exit_code() {
    let Some(env) = Env::new(Kind::Amqp).await else {
        return;
    };
    let config = AmqpConfig::from_url(&amqp_url()).expect("url");
    let password = config.password().expose().to_owned();
    // A port nothing listens on: bind one, note it, let it go.
    let free = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let cases = [
        (
            url_with("not-the-password", None, "%2f"),
            5,
            "refused the login",
        ),
        (
            url_with(&password, None, "no-such-vhost"),
            6,
            "refused vhost `no-such-vhost`",
        ),
        (
            url_with(&password, Some(free), "%2f"),
            4,
            "Connection refused",
        ),
    ];
    for (url, code, words) in cases {
        let out = rpcctl_at(&url, &env.exchange, &["ping", &env.topic]).await;
        let text = stderr(&out);
        assert_eq!(out.status.code(), Some(code), "{text}");
        assert_eq!(text.lines().count(), 1, "{text}");
        assert!(text.contains(words), "{text}");
        assert!(!text.contains("not-the-password"), "{text}");
        let as_json = rpcctl_at(&url, &env.exchange, &["--json", "ping", &env.topic]).await;
        assert_eq!(
            json(&as_json)["error"]["exit"],
            code,
            "{}",
            stdout(&as_json)
        );
        assert!(!stdout(&as_json).contains("not-the-password"));
    }
    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cast_queues_while_no_server_consumes_and_topology_shows_it() {
    let Some(env) = Env::new(Kind::Amqp).await else {
        return;
    };
    let log = Arc::new(Log::default());
    let server = env.server("host-1", &log).await;
    server.shutdown().await;
    // The topic queue stays without a consumer: the cast waits in it.
    let cast = rpcctl(&env, &["cast", &env.topic, "delete_volume", r#"{"id": 7}"#]).await;
    assert!(cast.status.success(), "{}", stderr(&cast));
    assert!(
        stderr(&cast).contains(&format!(
            "cast to topic `{}`, sent unchecked (no server consumes the queue now)",
            env.topic
        )),
        "{}",
        stderr(&cast)
    );
    let cast = rpcctl(
        &env,
        &[
            "cast",
            &env.topic,
            "delete_volume",
            "{}",
            "--server",
            "host-9",
        ],
    )
    .await;
    assert_eq!(cast.status.code(), Some(3), "{}", stderr(&cast));
    assert!(
        stderr(&cast).contains(&format!(
            "no server `host-9` listens on `{}` (queue `{}.host-9` does not exist)",
            env.topic, env.topic
        )),
        "{}",
        stderr(&cast)
    );

    let topology = rpcctl(&env, &["--json", "topology", &env.topic]).await;
    assert!(topology.status.success(), "{}", stderr(&topology));
    let rows = &json(&topology)["rows"];
    let topic = row(rows, &env.topic);
    assert_eq!(topic["messages"], 1, "{topic}");
    assert_eq!(topic["consumers"], 0, "{topic}");
    let note = topic["note"].as_str().unwrap_or_default();
    assert!(
        note.contains("no consumer") && note.contains("backlog"),
        "{topic}"
    );
    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topology_shows_a_left_over_server_queue() {
    let Some(env) = Env::new(Kind::Amqp).await else {
        return;
    };
    let log = Arc::new(Log::default());
    let _server = env.server("host-1", &log).await;
    // What a server killed with `kill -9` leaves: its queue, no consumer.
    let orphan = format!("{}.host-9", env.topic);
    env.track_server("host-9");
    let connection = raw_connection().await.expect("connect");
    let channel = connection.open_channel(None).await.expect("channel");
    channel
        .queue_declare(QueueDeclareArguments::new(&orphan))
        .await
        .expect("declare");
    let _ = connection.close().await;

    let topology = rpcctl(&env, &["topology", &env.topic]).await;
    let table = stdout(&topology);
    assert!(topology.status.success(), "{}", stderr(&topology));
    // Only the management API lists a queue nobody knows the name of.
    if stderr(&topology).contains("management API") && !rpc_tests::env::in_ci() {
        rpc_tests::env::skipped(
            "RabbitMQ's management API does not answer (`rabbitmq-plugins enable rabbitmq_management`)",
        );
        env.cleanup().await;
        return;
    }
    let line = table
        .lines()
        .find(|l| l.contains(&orphan))
        .unwrap_or_else(|| panic!("`{orphan}` not listed: {table}{}", stderr(&topology)));
    assert!(line.contains("left over"), "{line}");
    let live = table
        .lines()
        .find(|l| l.contains(&format!("{}.host-1", env.topic)))
        .unwrap_or_else(|| panic!("the live server's queue is not listed: {table}"));
    assert!(!live.contains("left over"), "{live}");

    let unknown = rpcctl(&env, &["topology", &format!("{}-nothing", env.topic)]).await;
    assert_eq!(unknown.status.code(), Some(3), "{}", stderr(&unknown));
    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_command_speaks_json() {
    let Some(env) = Env::new(Kind::Amqp).await else {
        return;
    };
    let log = Arc::new(Log::default());
    let _server = env.server("host-1", &log).await;
    let topic = env.topic.as_str();
    let ping = json(&rpcctl(&env, &["--json", "ping", topic]).await);
    assert_eq!(ping[0]["server"], "host-1", "{ping}");
    let describe = json(&rpcctl(&env, &["--json", "describe", topic]).await);
    assert!(
        describe["methods"]
            .as_array()
            .is_some_and(|m| !m.is_empty()),
        "{describe}"
    );
    let call = json(&rpcctl(&env, &["--json", "call", topic, "whoami"]).await);
    assert_eq!(call, "host-1");
    let cast = json(
        &rpcctl(
            &env,
            &["--json", "cast", topic, "delete_volume", r#"{"id": 1}"#],
        )
        .await,
    );
    assert_eq!(cast["confirmed"], true, "{cast}");
    let topology = json(&rpcctl(&env, &["--json", "topology", topic]).await);
    assert!(
        topology["rows"]
            .as_array()
            .is_some_and(|rows| rows.len() >= 3),
        "{topology}"
    );
    // Without the management API the view is partial, and the JSON says why.
    let partial = json(
        &rpcctl(
            &env,
            &[
                "--json",
                "topology",
                topic,
                "--management",
                "http://127.0.0.1:9",
            ],
        )
        .await,
    );
    assert!(
        partial["partial"]
            .as_str()
            .is_some_and(|why| why.contains("servers that answered a ping")),
        "{partial}"
    );
    assert!(
        partial["rows"]
            .as_array()
            .is_some_and(|rows| !rows.is_empty()),
        "{partial}"
    );
    let unknown = rpcctl(&env, &["--json", "call", topic, "no_such_method"]).await;
    assert_eq!(unknown.status.code(), Some(2));
    assert_eq!(json(&unknown)["error"]["kind"], "usage");
    // A mistake clap finds is JSON too.
    let bad = rpcctl(
        &env,
        &["--json", "call", topic, "whoami", "--timeout", "0s"],
    )
    .await;
    assert_eq!(bad.status.code(), Some(2), "{}", stderr(&bad));
    assert_eq!(json(&bad)["error"]["kind"], "usage");
    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_timeout_value_panics() {
    let Some(env) = Env::new(Kind::Amqp).await else {
        return;
    };
    let log = Arc::new(Log::default());
    let _server = env.server("host-1", &log).await;
    for (timeout, code) in [
        ("0s", 2),
        ("0.0001s", 2),
        ("99999999999999999999999s", 2),
        ("25h", 2),
        ("1ms", 3),
        ("2ms", 3),
    ] {
        let out = rpcctl(&env, &["call", &env.topic, "whoami", "--timeout", timeout]).await;
        let text = stderr(&out);
        assert!(!text.contains("panicked"), "{timeout}: {text}");
        // 1 ms may be enough on a quiet machine: then the call succeeds.
        assert!(
            out.status.code() == Some(code) || (code == 3 && out.status.success()),
            "{timeout}: {:?} {text}",
            out.status
        );
    }
    env.cleanup().await;
}

#[tokio::test]
async fn completions_are_printed_for_each_shell() {
    for shell in ["bash", "zsh", "fish"] {
        let out = rpcctl_at("amqp://x@127.0.0.1:1/%2f", "x", &["completions", shell]).await;
        assert!(out.status.success(), "{shell}: {}", stderr(&out));
        assert!(stdout(&out).contains("topology"), "{shell}");
    }
}

/// The `--json topology` row of queue `name`.
fn row<'a>(rows: &'a Value, name: &str) -> &'a Value {
    rows.as_array()
        .and_then(|rows| {
            rows.iter()
                .find(|r| r["name"] == name && r["kind"] == "queue")
        })
        .unwrap_or_else(|| panic!("no queue `{name}`: {rows}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topology_reads_the_broker_over_tls() {
    let Some(cluster) = rpc_tests::cluster::Cluster::get().await else {
        return;
    };
    // A topic queue with two messages waiting, made over plain AMQP on node 1.
    let topic = format!("tls-topology-{}", std::process::id());
    let connection = rpc_tests::env::raw_connection_to(&cluster.url([1, 2, 3]))
        .await
        .expect("connect to node 1");
    let channel = connection.open_channel(None).await.expect("channel");
    channel
        .queue_declare(QueueDeclareArguments::new(&topic))
        .await
        .expect("declare");
    for _ in 0..2 {
        channel
            .basic_publish(
                amqprs::BasicProperties::default(),
                b"x".to_vec(),
                amqprs::channel::BasicPublishArguments::new("", &topic),
            )
            .await
            .expect("publish");
    }
    // Both are in the queue before rpcctl counts them.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let counted = channel
            .queue_declare(QueueDeclareArguments::new(&topic).passive(true).finish())
            .await
            .expect("passive declare")
            .map(|(_, messages, _)| messages);
        if counted == Some(2) {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "counted {counted:?}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }

    let out = rpcctl_at(
        &cluster.tls_url(1),
        "openstack",
        &["--json", "topology", &topic],
    )
    .await;
    let rows = &json(&out)["rows"];
    let row = rows
        .as_array()
        .and_then(|rows| rows.iter().find(|r| r["name"] == topic.as_str()))
        .unwrap_or_else(|| panic!("no row for `{topic}`: {rows}"));
    assert_eq!(row["exists"], true, "{row}");
    assert_eq!(row["consumers"], 0, "{row}");
    assert_eq!(row["messages"], 2, "passive declares over TLS count: {row}");
    let _ = channel
        .queue_delete(amqprs::channel::QueueDeleteArguments::new(&topic))
        .await;
    let _ = connection.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn top_shows_each_method_of_each_server() {
    let Some(env) = Env::new(Kind::Amqp).await else {
        return;
    };
    let log = Arc::new(Log::default());
    let _one = env.server("host-1", &log).await;
    let _two = env.server("host-2", &log).await;
    let client = env.client(&env.transport().await).to_server("host-1");
    let ctx = rpc_runtime::Context::new();
    for _ in 0..20 {
        client.whoami(&ctx).await.expect("call");
    }

    let out = rpcctl(
        &env,
        &[
            "--json",
            "top",
            &env.topic,
            "--interval",
            "200ms",
            "--count",
            "2",
        ],
    )
    .await;
    assert!(out.status.success(), "{}", stderr(&out));
    let refreshes: Vec<Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON document per refresh"))
        .collect();
    assert_eq!(refreshes.len(), 2, "{}", stdout(&out));
    let first = &refreshes[0];
    assert_eq!(first["servers"], 2, "{first}");
    let rows = first["rows"].as_array().expect("rows");
    let whoami = rows
        .iter()
        .find(|r| r["server"] == "host-1" && r["method"] == "whoami")
        .unwrap_or_else(|| panic!("no whoami row for host-1: {first}"));
    assert_eq!(whoami["total"], 20, "{whoami}");
    assert!(
        whoami["p50_ms"].as_f64().is_some_and(|ms| ms > 0.0),
        "{whoami}"
    );
    assert!(
        whoami["p99_ms"].as_f64() >= whoami["p50_ms"].as_f64(),
        "{whoami}"
    );
    // host-2 handled nothing: one row without a method.
    assert!(
        rows.iter()
            .any(|r| r["server"] == "host-2" && r["method"] == "-"),
        "{first}"
    );
    // The second refresh counts the interval only: nothing happened in it.
    let again = refreshes[1]["rows"]
        .as_array()
        .and_then(|rows| {
            rows.iter()
                .find(|r| r["server"] == "host-1" && r["method"] == "whoami")
                .cloned()
        })
        .expect("whoami again");
    assert_eq!(again["rate"], 0.0, "{again}");
    assert_eq!(again["total"], 20, "{again}");
    env.cleanup().await;
}
