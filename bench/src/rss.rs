//! Peak memory with 10,000 calls in flight: each implementation runs in a
//! child process (client and server together) and reports its peak RSS.

use std::fmt::Write as _;
use std::time::Duration;

use rpc_runtime::Context;

use crate::{hand, ours};

const IN_FLIGHT: usize = 10_000;
const HOLD_MS: u64 = 2_000;

/// A memory figure of `/proc/<pid>/status` in KiB (`VmHWM:` the peak RSS,
/// `VmRSS:` the current one), of this process or `pid`; 0 if unreadable.
pub(crate) fn status_kib(pid: Option<u32>, field: &str) -> u64 {
    let path = pid.map_or_else(
        || "/proc/self/status".to_owned(),
        |p| format!("/proc/{p}/status"),
    );
    std::fs::read_to_string(path)
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or(0)
}

fn peak_rss_kib() -> u64 {
    status_kib(None, "VmHWM:")
}

/// In the child: run one implementation and print its peak RSS in KiB.
pub async fn child(which: &str, url: &str) {
    let payload = "x".repeat(crate::PAYLOAD);
    let mut calls = tokio::task::JoinSet::new();
    match which {
        "ours" => {
            let topic = format!("bench-rss-{}", std::process::id());
            let deployment = ours::Deployment::amqp(url, &topic, IN_FLIGHT).await;
            for _ in 0..IN_FLIGHT {
                let (client, text) = (deployment.client.clone(), payload.clone());
                calls.spawn(async move {
                    client
                        .echo_after(&Context::new(), text, HOLD_MS)
                        .await
                        .map(|_| ())
                        .is_ok()
                });
            }
            let ok = drain(&mut calls).await;
            deployment.close().await;
            println!("{} {ok}", peak_rss_kib());
        }
        _ => {
            let server_connection = hand::connect(url).await;
            let queue = format!("bench-rss-hand-{}", std::process::id());
            let _server = hand::echo_server(&server_connection, &queue, u16::MAX, HOLD_MS).await;
            let client_connection = hand::connect(url).await;
            let caller = hand::Caller::new(&client_connection, &queue, hand::Style::Plain).await;
            for _ in 0..IN_FLIGHT {
                let (caller, body) = (caller.clone(), payload.clone().into_bytes());
                calls.spawn(async move {
                    let _ = caller.call(body).await;
                    true
                });
            }
            let ok = drain(&mut calls).await;
            println!("{} {ok}", peak_rss_kib());
        }
    }
}

async fn drain(calls: &mut tokio::task::JoinSet<bool>) -> usize {
    let mut ok = 0;
    while let Some(done) = calls.join_next().await {
        if done.unwrap_or(false) {
            ok += 1;
        }
    }
    ok
}

/// Runs both children and writes the table.
pub async fn section(report: &mut String, _quick: bool) {
    let exe = std::env::current_exe().expect("own path");
    let measure = |which: &'static str| {
        let output = std::process::Command::new(&exe)
            .args(["--rss", which])
            .output()
            .expect("child");
        let text = String::from_utf8_lossy(&output.stdout).into_owned();
        let mut parts = text.split_whitespace();
        let kib: u64 = parts.next().and_then(|n| n.parse().ok()).unwrap_or(0);
        let ok: usize = parts.next().and_then(|n| n.parse().ok()).unwrap_or(0);
        (kib, ok)
    };
    let _ = tokio::time::sleep(Duration::from_millis(10)).await;
    let (hand_kib, hand_ok) = measure("hand");
    let (ours_kib, ours_ok) = measure("ours");
    let _ = writeln!(
        report,
        "## Peak RSS with {IN_FLIGHT} calls in flight (client and server in one process, each call held {HOLD_MS} ms)\n"
    );
    crate::row(
        report,
        &["implementation", "peak RSS", "calls answered", "ratio"].map(String::from),
    );
    crate::row(report, &["---"; 4].map(String::from));
    crate::row(
        report,
        &[
            "amqprs by hand".into(),
            format!("{:.1} MiB", hand_kib as f64 / 1024.0),
            hand_ok.to_string(),
            "1.00".into(),
        ],
    );
    crate::row(
        report,
        &[
            "rpc-runtime".into(),
            format!("{:.1} MiB", ours_kib as f64 / 1024.0),
            ours_ok.to_string(),
            format!("{:.2}", ours_kib as f64 / hand_kib.max(1) as f64),
        ],
    );
    let _ = writeln!(report);
}
