//! Servers in processes of their own, stopped the ways service managers
//! stop them: SIGTERM stops one gracefully (the request in flight is
//! answered, its own queue removed); after `kill -9` its queue is left to
//! the broker, which deletes it once the queue's expiry has passed.

use std::process::Stdio;
use std::time::Duration;

use amqprs::channel::QueueDeclareArguments;
use rpc_runtime::{Context, RpcError};
use rpc_tests::env::{amqp_url, raw_connection};
use rpc_tests::{Env, Kind};
use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};

const WAIT: Duration = Duration::from_secs(20);

/// A `volume-server` process and the lines it prints.
struct ServerProcess {
    child: Child,
    lines: Lines<BufReader<ChildStdout>>,
}

impl ServerProcess {
    /// Starts server `name` on `env`'s topic; returns once it serves.
    async fn start(env: &Env, name: &str, expiry: Duration) -> Self {
        env.track_server(name);
        let mut child = Command::new(env!("CARGO_BIN_EXE_volume-server"))
            .args([
                amqp_url(),
                env.exchange.clone(),
                env.topic.clone(),
                name.to_owned(),
                expiry.as_millis().to_string(),
            ])
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("start volume-server");
        let stdout = child.stdout.take().expect("its stdout");
        let mut server = Self {
            child,
            lines: BufReader::new(stdout).lines(),
        };
        server.wait_for_line("ready").await;
        server
    }

    /// Waits until the process prints `line`.
    async fn wait_for_line(&mut self, line: &str) {
        let reading = async {
            while let Some(next) = self.lines.next_line().await.expect("read its stdout") {
                if next == line {
                    return;
                }
            }
            panic!("volume-server exited before printing `{line}`");
        };
        tokio::time::timeout(WAIT, reading)
            .await
            .unwrap_or_else(|_| panic!("volume-server did not print `{line}` within {WAIT:?}"));
    }

    fn terminate(&self) {
        let pid = self.child.id().expect("still running").to_string();
        let status = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -TERM {pid}");
    }
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
        Err(RpcError::Undeliverable { routing_key, .. }) => {
            assert_eq!(routing_key, format!("{}.{server}", env.topic));
        }
        other => panic!("expected Undeliverable, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_answers_the_request_in_flight_and_removes_the_queue() {
    let Some(env) = Env::new(Kind::Amqp).await else {
        return;
    };
    let mut server = ServerProcess::start(&env, "host-t", Duration::from_secs(600)).await;
    let client = env
        .client(&env.transport().await)
        .timeout(Duration::from_secs(30));
    let call = tokio::spawn(async move {
        client
            .to_server("host-t")
            .slow_echo(&Context::new(), 7, 1000)
            .await
    });
    server.wait_for_line("event Echoing { n: 7 }").await;

    server.terminate();
    assert_eq!(call.await.expect("task"), Ok(7));
    server.wait_for_line("stopped true").await;
    let status = tokio::time::timeout(WAIT, server.child.wait())
        .await
        .expect("it exits")
        .expect("wait for it");
    assert!(status.success(), "volume-server exited with {status}");

    assert!(!queue_exists(&format!("{}.host-t", env.topic)).await);
    refused_at_once(&env, "host-t").await;
    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_servers_queue_expires() {
    let Some(env) = Env::new(Kind::Amqp).await else {
        return;
    };
    let mut server = ServerProcess::start(&env, "host-k", Duration::from_millis(1500)).await;
    let client = env.client(&env.transport().await);
    let ctx = Context::new();
    assert_eq!(
        client.to_server("host-k").whoami(&ctx).await,
        Ok("host-k".to_owned())
    );

    server.child.kill().await.expect("kill -9");
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
