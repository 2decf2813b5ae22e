//! `rpcctl top`: a live view of a topic's servers for an operator without
//! Grafana, from ping answers (which carry each method's counts and latency
//! buckets since the server started). Each refresh shows, per server and
//! method, the requests of the last interval: rate, errors, p50 and p99;
//! and the server's requests in flight now.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::time::{Duration, Instant};

use rpc_runtime::Transport;
use rpc_runtime::builtin::{MethodStats, PingReply};
use serde::Serialize;

use crate::failure::Failure;
use crate::output::Output;
use crate::request::gather_pings;

/// One line of the view.
#[derive(Debug, Serialize)]
struct Row {
    server: String,
    in_flight: usize,
    method: String,
    /// Requests per second over the last interval.
    rate: f64,
    /// Of those, failed, per second.
    errors: f64,
    p50_ms: Option<f64>,
    p99_ms: Option<f64>,
    /// Handled since the server started.
    total: u64,
}

/// Shows `topic` every `interval`, `count` times (forever without).
pub(crate) async fn show(
    transport: &Transport,
    out: Output,
    topic: &str,
    interval: Duration,
    count: Option<u32>,
) -> Result<(), Failure> {
    // The window to gather pings: a fraction of the interval, at most 1 s.
    let window = (interval / 2).clamp(Duration::from_millis(100), Duration::from_secs(1));
    let mut previous: HashMap<(String, u32), (Instant, Vec<MethodStats>)> = HashMap::new();
    let mut shown = 0;
    loop {
        let started = Instant::now();
        let answers = gather_pings(transport, topic, window).await?;
        if answers.is_empty() && shown == 0 {
            return Err(Failure::NoAnswer(format!(
                "no server of topic `{topic}` answered a ping within {window:?}"
            )));
        }
        let now = Instant::now();
        let mut rows = Vec::new();
        for (_, ping) in &answers {
            let key = (ping.server.clone(), ping.pid);
            let earlier = previous.get(&key);
            rows.extend(rows_of(ping, earlier, now));
            previous.insert(key, (now, ping.methods.clone()));
        }
        print(out, topic, &rows, answers.len());
        shown += 1;
        if count.is_some_and(|c| shown >= c) {
            return Ok(());
        }
        tokio::select! {
            () = tokio::time::sleep(interval.saturating_sub(started.elapsed())) => {}
            _ = tokio::signal::ctrl_c() => return Ok(()),
        }
    }
}

fn rows_of(
    ping: &PingReply,
    earlier: Option<&(Instant, Vec<MethodStats>)>,
    now: Instant,
) -> Vec<Row> {
    let mut rows = Vec::new();
    for stats in &ping.methods {
        // The first answer of a server covers its whole life.
        let (delta, seconds) = match earlier {
            Some((at, before)) => {
                let zero = MethodStats {
                    method: stats.method.clone(),
                    handled: 0,
                    errors: 0,
                    latency: Vec::new(),
                };
                let before = before
                    .iter()
                    .find(|b| b.method == stats.method)
                    .unwrap_or(&zero);
                (stats.since(before), now.duration_since(*at).as_secs_f64())
            }
            None => (
                stats.clone(),
                Duration::from_millis(ping.uptime_ms).as_secs_f64(),
            ),
        };
        let per_second = |n: u64| {
            if seconds > 0.0 {
                n as f64 / seconds
            } else {
                0.0
            }
        };
        let ms = |d: Option<Duration>| d.map(|d| (d.as_secs_f64() * 1e5).round() / 100.0);
        rows.push(Row {
            server: ping.server.clone(),
            in_flight: ping.in_flight,
            method: stats.method.clone(),
            rate: (per_second(delta.handled) * 10.0).round() / 10.0,
            errors: (per_second(delta.errors) * 10.0).round() / 10.0,
            p50_ms: ms(delta.quantile(0.5)),
            p99_ms: ms(delta.quantile(0.99)),
            total: stats.handled,
        });
    }
    if rows.is_empty() {
        rows.push(Row {
            server: ping.server.clone(),
            in_flight: ping.in_flight,
            method: "-".to_owned(),
            rate: 0.0,
            errors: 0.0,
            p50_ms: None,
            p99_ms: None,
            total: 0,
        });
    }
    rows
}

fn print(out: Output, topic: &str, rows: &[Row], servers: usize) {
    if out.is_json() {
        // One JSON document per refresh (JSON lines).
        let line = serde_json::json!({"topic": topic, "servers": servers, "rows": rows});
        println!("{line}");
        return;
    }
    if std::io::stdout().is_terminal() {
        print!("\x1b[2J\x1b[H");
    }
    println!("topic {topic}: {servers} server(s)");
    println!(
        "{:<16} {:>9} {:<28} {:>8} {:>8} {:>9} {:>9} {:>9}",
        "SERVER", "IN FLIGHT", "METHOD", "REQ/S", "ERR/S", "P50 MS", "P99 MS", "TOTAL"
    );
    let shown = |v: Option<f64>| v.map_or_else(|| "-".to_owned(), |v| format!("{v:.2}"));
    for row in rows {
        println!(
            "{:<16} {:>9} {:<28} {:>8.1} {:>8.1} {:>9} {:>9} {:>9}",
            row.server,
            row.in_flight,
            row.method,
            row.rate,
            row.errors,
            shown(row.p50_ms),
            shown(row.p99_ms),
            row.total
        );
    }
}
