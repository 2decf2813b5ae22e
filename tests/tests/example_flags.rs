//! The mini-cloud's `--otlp` as an operator meets it: a URL that is not
//! one stops the example with a message saying what to give; a collector
//! that is not there is a warning (spans would be dropped silently), in
//! plain text since stderr is not a terminal here.

use std::process::Stdio;

use rpc_tests::process::example;
use tokio::process::Command;

async fn mini_cloud(args: &[&str]) -> std::process::Output {
    Command::new(example("mini-cloud"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .await
        .expect("run mini-cloud")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_otlp_value_that_is_not_a_url_stops_the_example() {
    let run = mini_cloud(&["--otlp", "not-a-url"]).await;
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(!run.status.success(), "{stderr}");
    assert!(
        stderr.contains("--otlp not-a-url: not a URL")
            && stderr.contains("http://127.0.0.1:4318/v1/traces"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_collector_is_a_plain_warning() {
    // A port nobody listens on once the listener is gone.
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port");
    let url = format!("http://{addr}/v1/traces");
    let run = mini_cloud(&["--otlp", &url]).await;
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{stderr}");
    assert!(
        stderr.contains(&format!("no collector accepts connections at {addr}")),
        "{stderr}"
    );
    assert!(stderr.contains(" WARN "), "{stderr}");
    assert!(
        !stderr.contains('\u{1b}'),
        "no ANSI colours off a terminal: {stderr}"
    );
}
