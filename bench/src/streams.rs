//! Streaming replies over RabbitMQ, the server in a process of its own:
//! items per second of a stream of 100-byte items against calls per second
//! of the same payload (64 in flight), and the memory both processes hold
//! while a slow reader takes a long stream (credit keeps it flat).

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use rpc_runtime::Context;

use crate::measure::closed_loop;
use crate::processes::ServerProcess;
use crate::rss::status_kib;
use crate::{ours, row, url};

const ITEM: u64 = 100;

/// Resident memory of `pid` (this process when `None`), in KiB.
fn rss_kib(pid: Option<u32>) -> u64 {
    status_kib(pid, "VmRSS:")
}

pub(crate) async fn section(report: &mut String, duration: Duration, quick: bool) {
    let name = format!("bench-streams-{}", std::process::id());
    let server = ServerProcess::spawn("ours", name.clone()).await;
    let (client, transport) = ours::remote_client(&url(), &name).await;
    let client = client.timeout(Duration::from_secs(300));
    let ctx = Context::new();

    // Items per second: whole streams, as many as fit in `duration`.
    let n: u64 = if quick { 2_000 } else { 20_000 };
    let started = Instant::now();
    let mut items = 0u64;
    while started.elapsed() < duration {
        let mut stream = client.items(&ctx, n, ITEM).await;
        while let Some(item) = stream.next().await {
            item.expect("an item");
            items += 1;
        }
    }
    let items_per_s = items as f64 / started.elapsed().as_secs_f64();
    let payload = "x".repeat(ITEM as usize);
    let caller = client.clone();
    let calls = closed_loop(64, duration, move || {
        let (caller, payload) = (caller.clone(), payload.clone());
        async move {
            caller.echo(&Context::new(), payload).await.expect("echo");
        }
    })
    .await;

    // A slow reader: 1 ms per item.
    let slow: u64 = if quick { 500 } else { 3_000 };
    let (server_before, client_before) = (rss_kib(server.pid()), rss_kib(None));
    let (mut server_peak, mut client_peak) = (server_before, client_before);
    let mut stream = client.items(&ctx, slow, ITEM).await;
    let mut read = 0u64;
    while let Some(item) = stream.next().await {
        item.expect("an item");
        read += 1;
        tokio::time::sleep(Duration::from_millis(1)).await;
        if read.is_multiple_of(50) {
            server_peak = server_peak.max(rss_kib(server.pid()));
            client_peak = client_peak.max(rss_kib(None));
        }
    }

    let _ = writeln!(
        report,
        "## Streaming replies (server in its own process, {ITEM}-byte items)\n"
    );
    row(report, &["what", "per s", "ratio"].map(String::from));
    row(report, &["---"; 3].map(String::from));
    row(
        report,
        &[
            format!("stream items ({n} per stream, one stream at a time)"),
            format!("{items_per_s:.0}"),
            format!("{:.2}", items_per_s / calls.per_second),
        ],
    );
    row(
        report,
        &[
            "calls, 64 in flight".to_owned(),
            format!("{:.0}", calls.per_second),
            "1.00".to_owned(),
        ],
    );
    let _ = writeln!(
        report,
        "\nA slow reader (1 ms per item) taking {read} items: server RSS {server_before} KiB before, {server_peak} KiB at most while streaming; client {client_before} KiB before, {client_peak} KiB at most.\n"
    );
    transport.close().await;
    server.stop().await;
}
