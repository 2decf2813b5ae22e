//! Servers in processes of their own, stopped the ways service managers
//! stop them: SIGTERM stops one gracefully (the request in flight is
//! answered, its own queue removed); after `kill -9` its queue is left to
//! the broker, which deletes it once the queue's expiry has passed. A cast
//! the server refuses is a WARN on its stderr, since nobody else hears of it.

use std::time::Duration;

use amqprs::channel::QueueDeclareArguments;
use rpc_runtime::message::Message;
use rpc_runtime::wire::OutgoingRequest;
use rpc_runtime::{Context, Destination, RpcError};
use rpc_tests::env::{amqp_url, raw_connection};
use rpc_tests::process::{Process, WAIT};
use rpc_tests::{Env, Kind};
use tokio::process::Command;

/// Starts a `volume-server` process as server `name` on `env`'s topic;
/// returns once it serves.
async fn start(env: &Env, name: &str, expiry: Duration) -> Process {
    let mut server = Process::start("volume-server", command(env, name, expiry));
    server.wait_for("`ready`", |l| l == "ready").await;
    server
}

/// The command line of a `volume-server` serving as `name`.
fn command(env: &Env, name: &str, expiry: Duration) -> Command {
    env.track_server(name);
    let mut command = Command::new(env!("CARGO_BIN_EXE_volume-server"));
    command.args([
        amqp_url(),
        env.exchange.clone(),
        env.topic.clone(),
        name.to_owned(),
        expiry.as_millis().to_string(),
    ]);
    command
}

/// A cast of `method` with `body` as its arguments, in `env`'s wire.
fn cast_of(env: &Env, method: &str, body: Vec<u8>) -> Message {
    env.speaks.format().encode_request(OutgoingRequest {
        trace: None,
        method: method.to_owned().into(),
        version: "1.0",
        namespace: None,
        context: &Context::new(),
        options: &rpc_runtime::CallOptions::default(),
        body,
    })
}

/// Whether `queue` exists on the broker (a passive declare).
async fn queue_exists(queue: &str) -> bool {
    let connection = raw_connection().await.expect("connect");
    let channel = connection.open_channel(None).await.expect("channel");
    let args = QueueDeclareArguments::new(queue).passive(true).finish();
    let exists = channel.queue_declare(args).await.is_ok();
    let _ = connection.close().await;
    exists
}

async fn refused_at_once(env: &Env, server: &str) {
    let client = env
        .client(&env.transport().await)
        .timeout(Duration::from_secs(30));
    // With a 30 s timeout, only an immediate refusal can produce this error.
    match client.to_server(server).whoami(&Context::new()).await {
        Err(RpcError::Undeliverable { destination }) => {
            assert_eq!(destination, format!("{}.{server}", env.topic));
        }
        other => panic!("expected Undeliverable, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_answers_the_request_in_flight_and_removes_the_queue() {
    let Some(env) = Env::new(Kind::Amqp).await else {
        return;
    };
    let mut server = start(&env, "host-t", Duration::from_secs(600)).await;
    let client = env
        .client(&env.transport().await)
        .timeout(Duration::from_secs(30));
    let call = tokio::spawn(async move {
        client
            .to_server("host-t")
            .slow_echo(&Context::new(), 7, 1000)
            .await
    });
    let echoing = "event Echoing { n: 7 }";
    server.wait_for(echoing, |l| l == echoing).await;

    server.terminate();
    assert_eq!(call.await.expect("task"), Ok(7));
    server
        .wait_for("`stopped true`", |l| l == "stopped true")
        .await;
    assert!(server.exited_ok().await, "volume-server exits with success");

    assert!(!queue_exists(&format!("{}.host-t", env.topic)).await);
    refused_at_once(&env, "host-t").await;
    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_servers_queue_expires() {
    let Some(env) = Env::new(Kind::Amqp).await else {
        return;
    };
    let mut server = start(&env, "host-k", Duration::from_millis(1500)).await;
    let client = env.client(&env.transport().await);
    let ctx = Context::new();
    assert_eq!(
        client.to_server("host-k").whoami(&ctx).await,
        Ok("host-k".to_owned())
    );

    server.kill().await;
    // Casts to it wait in its queue until the broker deletes the queue;
    // then they are refused. (Publishing does not renew a queue's lease;
    // a declaration, even a passive one, would.)
    let gone = async {
        loop {
            match client.to_server("host-k").delete_volume(&ctx, 1).await {
                Ok(()) => tokio::time::sleep(Duration::from_millis(200)).await,
                Err(RpcError::Undeliverable { .. }) => return,
                Err(other) => panic!("expected Undeliverable at last, got {other:?}"),
            }
        }
    };
    tokio::time::timeout(WAIT, gone)
        .await
        .expect("the broker deletes the killed server's queue after its expiry");
    refused_at_once(&env, "host-k").await;
    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_cast_is_a_warning_on_the_servers_stderr() {
    let Some(env) = Env::new(Kind::Amqp).await else {
        return;
    };
    let mut server = Process::start_keeping_stderr(
        "volume-server",
        command(&env, "host-w", Duration::from_secs(600)),
    );
    server.wait_for("`ready`", |l| l == "ready").await;
    let transport = env.transport().await;
    let to_server = Destination::Server {
        topic: env.topic.clone(),
        server: "host-w".into(),
    };
    let refused = [
        ("delete_volumee", Vec::new()),
        ("delete_volume", vec![0xff; 3]),
    ];
    for (method, body) in refused {
        let cast = cast_of(&env, method, body);
        transport
            .cast_raw(to_server.clone(), cast, Duration::from_secs(10))
            .await
            .expect("the broker takes a cast to a method nobody has");
    }
    // Its queue hands out in order: once this is answered, both casts
    // were taken; a graceful stop lets their handling finish.
    let client = env.client(&transport);
    assert_eq!(
        client.to_server("host-w").whoami(&Context::new()).await,
        Ok("host-w".to_owned())
    );
    server.terminate();
    assert!(server.exited_ok().await, "volume-server exits with success");
    let stderr = server.stderr().await;
    for (method, error) in [
        ("delete_volumee", "no method"),
        ("delete_volume", "undecodable arguments"),
    ] {
        let said = stderr.iter().any(|line| {
            line.contains("WARN")
                && line.contains("a cast failed")
                && line.contains(&format!("method=\"{method}\""))
                && line.contains(&format!("topic={}", env.topic))
                && line.to_lowercase().contains(error)
        });
        assert!(
            said,
            "a WARN names the refused cast of {method} ({error}); stderr:\n{}",
            stderr.join("\n")
        );
    }
    env.cleanup().await;
}
