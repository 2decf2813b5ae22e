//! The mini-cloud with `--metrics` serves Prometheus metrics: after its
//! scenario (known traffic: four placements, one refused; three volumes
//! created; six notifications billed) a scrape finds the counters and
//! histogram counts that traffic must produce, each described.

use std::io::{Read, Write};
use std::time::Duration;

use rpc_tests::process::{Process, example};
use tokio::process::Command;

/// `GET /metrics` over plain HTTP/1.1; the body.
fn scrape(addr: std::net::SocketAddr) -> String {
    let mut stream = std::net::TcpStream::connect(addr).expect("connect to the exporter");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    write!(
        stream,
        "GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .expect("request");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("response");
    let (head, body) = response.split_once("\r\n\r\n").expect("an HTTP response");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    body.to_owned()
}

/// The value of the sample named `series` (name and labels, as printed).
fn sample(body: &str, series: &str) -> Option<f64> {
    body.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|value| value.trim().parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scrape_after_known_traffic_finds_its_metrics() {
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port");
    let mut command = Command::new(example("mini-cloud"));
    command.args(["--metrics", &addr.to_string()]);
    let mut cloud = Process::start("mini-cloud", command);
    cloud
        .wait_for("the end of its scenario", |l| l.contains("scenario done"))
        .await;

    let body = scrape(addr);
    let expected = [
        (
            r#"rpc_client_casts_total{rpc_service="VolumeManager",rpc_method="create_volume",outcome="confirmed"}"#,
            3.0,
        ),
        (
            r#"rpc_server_duration_seconds_count{rpc_service="SchedulerManager",rpc_method="select_host",outcome="ok"}"#,
            3.0,
        ),
        (
            r#"rpc_server_duration_seconds_count{rpc_service="SchedulerManager",rpc_method="select_host",outcome="error"}"#,
            1.0,
        ),
        (
            r#"rpc_client_duration_seconds_count{rpc_service="SchedulerManager",rpc_method="select_host",outcome="error"}"#,
            1.0,
        ),
        (r#"rpc_notifications_total{outcome="handled"}"#, 6.0),
        ("rpc_client_pending_calls", 0.0),
        (
            r#"rpc_server_requests_in_flight{rpc_service="VolumeManager"}"#,
            0.0,
        ),
    ];
    for (series, value) in expected {
        assert_eq!(sample(&body, series), Some(value), "{series} in:\n{body}");
    }
    for described in [
        "# HELP rpc_client_duration_seconds",
        "# HELP rpc_server_duration_seconds",
        "# HELP rpc_client_casts_total",
    ] {
        assert!(body.contains(described), "{described} in:\n{body}");
    }
    // A histogram, with buckets.
    assert!(
        body.contains(r#"rpc_client_duration_seconds_bucket{rpc_service="SchedulerManager",rpc_method="select_host",outcome="ok",le="+Inf"} 3"#),
        "{body}"
    );

    cloud.terminate();
    assert!(cloud.exited_ok().await, "it stops on SIGTERM");
}
