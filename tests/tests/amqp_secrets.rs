//! Secrets never show: a client, a server, their errors, a refused login
//! and a reconnect, rendered with `Debug`, `Display` and the tracing output,
//! hold neither the AMQP password nor the context's auth token.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rpc_runtime::{AmqpConfig, Context, Server};
use rpc_tests::env::{amqp_url, rabbitmqctl};
use rpc_tests::volume::{Log, Recorder, VolumeManagerService};
use rpc_tests::{Env, Kind};

const USER: &str = "rpc_secret_test";
const PASSWORD: &str = "Pa55-w0rd-NOT-in-logs";
const WRONG: &str = "Wr0ng-Pa55-NOT-in-logs";
const TOKEN: &str = "T0ken-NOT-in-logs";

/// Everything the tracing subscriber writes.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("lock").extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().expect("lock")).into_owned()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_reaches_debug_display_errors_or_logs() {
    let Some(env) = Env::new(Kind::Amqp).await else {
        return;
    };
    // Left over by an interrupted run? Best effort: it is usually absent.
    let _ = std::process::Command::new("rabbitmqctl")
        .args(["delete_user", USER])
        .output();
    if rabbitmqctl(&["add_user", USER, PASSWORD]).is_none() {
        return;
    }
    rabbitmqctl(&["set_permissions", "-p", "/", USER, ".*", ".*", ".*"]).expect("permissions");

    let captured = Captured::default();
    let writer = captured.clone();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .init();

    let real = AmqpConfig::from_url(&amqp_url()).expect("url");
    let url = |password: &str| {
        format!(
            "amqp://{USER}:{password}@{}:{}/%2f",
            real.host(),
            real.port()
        )
    };
    let config = AmqpConfig::from_url(&url(PASSWORD))
        .expect("url")
        .control_exchange(&env.exchange);
    let mut shown = vec![format!("{config}"), format!("{config:?}")];

    let transport = config.connect().await.expect("connect as the test user");
    let log = Arc::new(Log::default());
    env.track_server("host-1");
    let server = Server::builder(&transport, "host-1")
        .serve_on(
            &env.topic,
            VolumeManagerService::new(Recorder::new("host-1", &log)),
        )
        .start()
        .await
        .expect("start");
    let client = env.client(&transport);
    let ctx = Context::new().with_auth_token(TOKEN).with_user_id("alice");
    let seen = client.context_seen(&ctx).await.expect("call");
    assert_eq!(
        seen.auth_token.as_deref(),
        Some(TOKEN),
        "the token itself does travel"
    );
    shown.push(format!("{transport:?} {client:?} {server:?} {ctx:?}"));
    let undeliverable = client
        .to_server("host-9")
        .whoami(&ctx)
        .await
        .expect_err("nobody there");
    let timeout = client
        .timeout(Duration::from_millis(100))
        .slow_echo(&ctx, 1, 1000)
        .await
        .expect_err("too slow");
    shown.push(format!(
        "{undeliverable} {undeliverable:?} {timeout} {timeout:?}"
    ));

    // A reconnect: the broker closes our connections.
    let connections = rabbitmqctl(&[
        "list_connections",
        "-q",
        "--no-table-headers",
        "pid",
        "user",
    ])
    .expect("list");
    for line in connections.lines().filter(|l| l.contains(USER)) {
        let pid = line.split_whitespace().next().expect("pid");
        rabbitmqctl(&["close_connection", pid, "secrets test"]).expect("close");
    }
    let back = async {
        loop {
            if client.whoami(&ctx).await.is_ok() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(30), back)
        .await
        .expect("reconnected");

    // A refused login.
    let refused = AmqpConfig::from_url(&url(WRONG))
        .expect("url")
        .connect()
        .await
        .expect_err("wrong password");
    shown.push(format!("{refused} {refused:?}"));

    drop(server);
    transport.close().await;
    let _ = rabbitmqctl(&["delete_user", USER]);
    let logs = captured.text();
    assert!(
        logs.contains("reconnected"),
        "the reconnect was logged: {logs}"
    );
    shown.push(logs);
    for text in &shown {
        for secret in [PASSWORD, WRONG, TOKEN] {
            assert!(!text.contains(secret), "`{secret}` shown in: {text}");
        }
    }
    env.cleanup().await;
}
