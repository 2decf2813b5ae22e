//! `cargo xtask bench`: our calls and casts against hand-written amqprs and
//! tarpc, measured side by side in one run on the local RabbitMQ, written
//! to `bench/RESULTS.md` as ratios (the machine is shared and noisy: only
//! figures from the same run compare).

mod compile;
mod hand;
mod measure;
mod ours;
mod rss;
mod tarpc_echo;

use std::fmt::Write as _;
use std::time::Duration;

use measure::{Stats, closed_loop};
use rpc_runtime::{AmqpConfig, Context};

const PAYLOAD: usize = 100;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(which) = args
        .iter()
        .position(|a| a == "--rss")
        .and_then(|i| args.get(i + 1))
    {
        rss::child(which, &url()).await;
        return;
    }
    if args.iter().any(|a| a == "--profile-memory") {
        // For `perf record`: only the in-memory echo, 64 callers, 10 s.
        let deployment = ours::Deployment::memory("bench-profile", 64).await;
        let client = deployment.client.clone();
        let stats = closed_loop(64, Duration::from_secs(10), move || {
            let client = client.clone();
            async move {
                client
                    .echo(&Context::new(), "x".repeat(PAYLOAD))
                    .await
                    .expect("echo");
            }
        })
        .await;
        println!("{:.0} calls/s", stats.per_second);
        return;
    }
    let quick = args.iter().any(|a| a == "--quick");
    let out = args
        .iter()
        .position(|a| a == "--out")
        .and_then(|i| args.get(i + 1))
        .cloned();
    let duration = if quick {
        Duration::from_secs(1)
    } else {
        Duration::from_secs(5)
    };
    let mut report = String::new();
    let _ = writeln!(report, "# Benchmark results\n\n{}\n", machine());
    let _ = writeln!(
        report,
        "Each figure is from one run of `cargo xtask bench`{}; compare within a table, not across runs.\n",
        if quick { " --quick" } else { "" }
    );
    calls(&mut report, duration).await;
    casts(&mut report, duration).await;
    memory(&mut report, duration).await;
    rss::section(&mut report, quick).await;
    compile::section(&mut report, quick);
    print!("{report}");
    if let Some(out) = out {
        std::fs::write(&out, &report).expect("write the results");
        eprintln!("wrote {out}");
    }
}

/// A closed loop of echo calls through our client.
async fn ours_echo(client: &ours::EchoClient, workers: usize, duration: Duration) -> Stats {
    let (client, text) = (client.clone(), "x".repeat(PAYLOAD));
    closed_loop(workers, duration, move || {
        let (client, text) = (client.clone(), text.clone());
        async move {
            client.echo(&Context::new(), text).await.expect("echo");
        }
    })
    .await
}

/// A closed loop of echo calls through a hand-written caller.
async fn hand_echo(caller: &hand::Caller, workers: usize, duration: Duration) -> Stats {
    let (caller, body) = (caller.clone(), vec![b'x'; PAYLOAD]);
    closed_loop(workers, duration, move || {
        let (caller, body) = (caller.clone(), body.clone());
        async move {
            caller.call(body).await;
        }
    })
    .await
}

fn url() -> String {
    std::env::var("RPC_BENCH_AMQP_URL")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".into())
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let date = std::process::Command::new("date")
        .arg("-u")
        .arg("+%Y-%m-%d %H:%M UTC")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    let rabbit = std::process::Command::new("rabbitmqctl")
        .args(["-q", "version"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_else(|_| "?".into());
    format!(
        "Machine: {cores} cores, {cpu}; RabbitMQ {rabbit} on 127.0.0.1; {date}. Release build, 2 Tokio workers."
    )
}

fn row(report: &mut String, cells: &[String]) {
    let _ = writeln!(report, "| {} |", cells.join(" | "));
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1000.0)
}

fn stats_cells(label: &str, workers: usize, s: Stats, base: Stats) -> Vec<String> {
    vec![
        workers.to_string(),
        label.to_owned(),
        format!("{:.0}", s.per_second),
        ms(s.p50),
        ms(s.p99),
        format!("{:.2}", s.per_second / base.per_second),
        format!("{:.2}", s.p50.as_secs_f64() / base.p50.as_secs_f64()),
    ]
}

async fn calls(report: &mut String, duration: Duration) {
    let config = AmqpConfig::from_url(&url()).expect("url");
    let connection = hand::connect(
        config.host(),
        config.port(),
        config.username(),
        config.password().expose(),
    )
    .await;
    let topic = format!("bench-calls-{}", std::process::id());
    let queue = format!("bench-hand-{}", std::process::id());
    let _server = hand::echo_server(&connection, &queue, 64, 0).await;
    let client_connection = hand::connect(
        config.host(),
        config.port(),
        config.username(),
        config.password().expose(),
    )
    .await;
    let reply_queue = hand::Caller::new(&client_connection, &queue, false).await;
    let direct = hand::Caller::new(&client_connection, &queue, true).await;
    let deployment = ours::Deployment::amqp(&url(), &topic, 64).await;
    let _ = writeln!(
        report,
        "## Calls over RabbitMQ ({PAYLOAD}-byte payload, prefetch 64)\n"
    );
    let _ = writeln!(
        report,
        "Ratios are against the hand-written reply-queue client (calls/s: higher is better; p50: lower is better).\n"
    );
    row(
        report,
        &[
            "callers",
            "implementation",
            "calls/s",
            "p50",
            "p99",
            "calls/s ratio",
            "p50 ratio",
        ]
        .map(String::from),
    );
    row(report, &["---"; 7].map(String::from));
    for workers in [1, 8, 64] {
        let base = hand_echo(&reply_queue, workers, duration).await;
        let direct_stats = hand_echo(&direct, workers, duration).await;
        let ours_stats = ours_echo(&deployment.client, workers, duration).await;
        row(
            report,
            &stats_cells("amqprs by hand, reply queue", workers, base, base),
        );
        row(
            report,
            &stats_cells(
                "amqprs by hand, direct reply-to",
                workers,
                direct_stats,
                base,
            ),
        );
        row(
            report,
            &stats_cells("rpc-runtime", workers, ours_stats, base),
        );
    }
    let _ = writeln!(report);
    deployment.close().await;
}

async fn casts(report: &mut String, duration: Duration) {
    let config = AmqpConfig::from_url(&url()).expect("url");
    let connection = hand::connect(
        config.host(),
        config.port(),
        config.username(),
        config.password().expose(),
    )
    .await;
    let queue = format!("bench-casts-{}", std::process::id());
    let received = hand::counting_consumer(&connection, &queue, 64).await;
    let publisher = hand::ConfirmedPublisher::new(&connection, &queue).await;
    let body = vec![b'x'; PAYLOAD];
    let hand_stats = closed_loop(64, duration, move || {
        let (publisher, body) = (publisher.clone(), body.clone());
        async move { publisher.publish(body).await }
    })
    .await;
    let topic = format!("bench-casts-ours-{}", std::process::id());
    let deployment = ours::Deployment::amqp(&url(), &topic, 64).await;
    let client = deployment.client.clone();
    let text = "x".repeat(PAYLOAD);
    let ours_stats = closed_loop(64, duration, move || {
        let (client, text) = (client.clone(), text.clone());
        async move { client.sink(&Context::new(), text).await.expect("cast") }
    })
    .await;
    let _ = writeln!(
        report,
        "## Casts with publisher confirms (64 concurrent senders)\n"
    );
    row(
        report,
        &[
            "implementation",
            "confirmed casts/s",
            "p50 (confirm)",
            "ratio",
        ]
        .map(String::from),
    );
    row(report, &["---"; 4].map(String::from));
    row(
        report,
        &[
            "amqprs by hand".into(),
            format!("{:.0}", hand_stats.per_second),
            ms(hand_stats.p50),
            "1.00".into(),
        ],
    );
    row(
        report,
        &[
            "rpc-runtime".into(),
            format!("{:.0}", ours_stats.per_second),
            ms(ours_stats.p50),
            format!("{:.2}", ours_stats.per_second / hand_stats.per_second),
        ],
    );
    let _ = writeln!(
        report,
        "\nEvery confirmed cast reached the server: {} by hand, {} ours (counted by the consumers after the run).\n",
        received.load(std::sync::atomic::Ordering::Relaxed),
        deployment
            .manager
            .received
            .load(std::sync::atomic::Ordering::Relaxed),
    );
    deployment.close().await;
}

async fn memory(report: &mut String, duration: Duration) {
    let deployment = ours::Deployment::memory("bench-memory", 64).await;
    let tarpc = tarpc_echo::client();
    let payload = "x".repeat(PAYLOAD);
    let _ = writeln!(
        report,
        "## In memory: our in-memory transport against tarpc's in-process channel\n"
    );
    row(
        report,
        &[
            "callers",
            "implementation",
            "calls/s",
            "p50",
            "p99",
            "calls/s ratio",
            "p50 ratio",
        ]
        .map(String::from),
    );
    row(report, &["---"; 7].map(String::from));
    for workers in [1, 64] {
        let client = tarpc.clone();
        let text = payload.clone();
        let base = closed_loop(workers, duration, move || {
            let (client, text) = (client.clone(), text.clone());
            async move {
                client
                    .echo(tarpc::context::current(), text)
                    .await
                    .expect("tarpc echo");
            }
        })
        .await;
        let ours_stats = ours_echo(&deployment.client, workers, duration).await;
        row(
            report,
            &stats_cells("tarpc, in-process channel", workers, base, base),
        );
        row(
            report,
            &stats_cells(
                "rpc-runtime, Transport::memory()",
                workers,
                ours_stats,
                base,
            ),
        );
    }
    let _ = writeln!(report);
}
