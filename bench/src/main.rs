//! `cargo xtask bench`: our calls and casts against hand-written amqprs and
//! tarpc, measured side by side in one run on the local RabbitMQ, written
//! to `bench/RESULTS.md` as ratios (the machine is shared and noisy: only
//! figures from the same run compare).

mod allocs;
mod broker;
mod compile;
mod hand;
mod measure;
mod metrics_cost;
mod ours;
mod processes;
mod rabbit;
mod report;
mod rss;
mod scale;
mod scale_serve;
mod streams;
mod tarpc_echo;

use std::fmt::Write as _;
use std::time::Duration;

use measure::{Op, closed_loop, interleaved, op};
use report::machine;
pub(crate) use report::{ms, row};
use rpc_runtime::Context;

const PAYLOAD: usize = 100;

#[global_allocator]
static ALLOCATOR: allocs::Counting = allocs::Counting;

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
    if let Some(i) = args.iter().position(|a| a == "--scale-serve") {
        let arg = |n: usize| {
            args.get(i + n)
                .expect("--scale-serve ours|bare TOPIC FIRST COUNT FANOUT")
        };
        let number = |n: usize| arg(n).parse().expect("a number");
        let (topic, first, count) = (arg(2), number(3), number(4));
        match arg(1).as_str() {
            "bare" => scale_serve::bare(topic, first, count).await,
            _ => scale_serve::ours(topic, first, count, arg(5) == "stream").await,
        }
        return;
    }
    if let Some(i) = args.iter().position(|a| a == "--serve") {
        let (Some(which), Some(name)) = (args.get(i + 1), args.get(i + 2)) else {
            panic!("usage: --serve ours|hand NAME");
        };
        processes::child(which, name).await;
        return;
    }
    if let Some(what) = args
        .iter()
        .position(|a| a == "--profile-amqp")
        .and_then(|i| args.get(i + 1))
    {
        // For `perf record`: 64 callers (or casters) over RabbitMQ, 10 s.
        let topic = format!("bench-profile-{}", std::process::id());
        let deployment = ours::Deployment::amqp(&url(), &topic, 64).await;
        let client = deployment.client.clone();
        let casts = what == "casts";
        let stats = closed_loop(64, Duration::from_secs(10), move || {
            let client = client.clone();
            async move {
                let text = "x".repeat(PAYLOAD);
                if casts {
                    client.sink(&Context::new(), text).await.expect("sink");
                } else {
                    client.echo(&Context::new(), text).await.expect("echo");
                }
            }
        })
        .await;
        println!("{what}: {:.0}/s", stats.per_second);
        deployment.close().await;
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
    // `--only processes|calls|streams|metrics|casts|memory|allocs|rss|compile|scale`:
    // one section (with `--out`, it replaces that section of the file).
    let only = args
        .iter()
        .position(|a| a == "--only")
        .and_then(|i| args.get(i + 1))
        .map(String::as_str);
    let runs = |section: &str| only.is_none_or(|o| o == section);
    if runs("processes") {
        processes::section(&mut report, duration).await;
    }
    if runs("calls") {
        rabbit::calls(&mut report, duration).await;
    }
    if runs("streams") {
        streams::section(&mut report, duration, quick).await;
    }
    if runs("metrics") {
        metrics_cost::section(&mut report, duration).await;
    }
    if runs("casts") {
        rabbit::casts(&mut report, duration).await;
    }
    if runs("memory") {
        memory(&mut report, duration).await;
    }
    if runs("allocs") {
        count_allocs(&mut report).await;
    }
    if runs("rss") {
        rss::section(&mut report, quick).await;
    }
    if runs("compile") {
        compile::section(&mut report, quick);
    }
    if runs("scale") {
        scale::section(&mut report, quick).await;
    }
    print!("{report}");
    if let Some(out) = out {
        let page = match only {
            Some(_) => report::merge(&std::fs::read_to_string(&out).unwrap_or_default(), &report),
            None => report,
        };
        std::fs::write(&out, page).expect("write the results");
        eprintln!("wrote {out}");
    }
}

/// Echo calls through our client.
pub(crate) fn ours_echo(client: &ours::EchoClient) -> Op {
    let (client, text) = (client.clone(), "x".repeat(PAYLOAD));
    op(move || {
        let (client, text) = (client.clone(), text.clone());
        async move {
            client.echo(&Context::new(), text).await.expect("echo");
        }
    })
}

/// Echo calls through a hand-written caller.
pub(crate) fn hand_echo(caller: &hand::Caller) -> Op {
    let (caller, body) = (caller.clone(), vec![b'x'; PAYLOAD]);
    op(move || {
        let (caller, body) = (caller.clone(), body.clone());
        async move {
            caller.call(body).await;
        }
    })
}

/// Confirmed casts through a hand-written publisher.
pub(crate) fn hand_cast(publisher: hand::ConfirmedPublisher) -> Op {
    let body = vec![b'x'; PAYLOAD];
    op(move || {
        let (publisher, body) = (publisher.clone(), body.clone());
        async move { publisher.publish(body).await }
    })
}

/// Echo calls through tarpc's in-process channel.
fn tarpc_echo(client: &tarpc_echo::WorldClient) -> Op {
    let (client, text) = (client.clone(), "x".repeat(PAYLOAD));
    op(move || {
        let (client, text) = (client.clone(), text.clone());
        async move {
            client
                .echo(tarpc::context::current(), text)
                .await
                .expect("tarpc echo");
        }
    })
}

/// How many turns each implementation gets in a section (see [`interleaved`]).
pub(crate) fn rounds(duration: Duration) -> u32 {
    duration.as_secs().max(1) as u32
}

pub(crate) fn url() -> String {
    std::env::var("RPC_BENCH_AMQP_URL")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".into())
}

async fn memory(report: &mut String, duration: Duration) {
    let deployment = ours::Deployment::memory("bench-memory", 64).await;
    let tarpc = tarpc_echo::client();
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
        let ops = [tarpc_echo(&tarpc), ours_echo(&deployment.client)];
        let stats = interleaved(workers, duration, rounds(duration), &ops).await;
        let labels = [
            "tarpc, in-process channel",
            "rpc-runtime, Transport::memory()",
        ];
        for (label, s) in labels.into_iter().zip(&stats) {
            row(report, &rabbit::stats_cells(label, workers, *s, stats[0]));
        }
    }
    let _ = writeln!(report);
}

/// Allocations per call, one caller at a time (server side included).
async fn count_allocs(report: &mut String) {
    const CALLS: u64 = 2000;
    let per_call = |n: u64| n as f64 / CALLS as f64;
    let deployment = ours::Deployment::memory("bench-allocs", 64).await;
    let ours_op = ours_echo(&deployment.client);
    let tarpc_op = tarpc_echo(&tarpc_echo::client());
    let broker = url();
    let (server_side, client_side) = (hand::connect(&broker).await, hand::connect(&broker).await);
    let queue = format!("bench-allocs-{}", std::process::id());
    let _server = hand::echo_server(&server_side, &queue, 64, 0).await;
    hand::bind_to_topic_exchange(&server_side, &queue).await;
    let same = hand::Caller::new(&client_side, &queue, hand::Style::SameTopology).await;
    let amqp = ours::Deployment::amqp(&url(), &format!("{queue}-ours"), 64).await;
    let ops = [
        ("tarpc, in-process channel", tarpc_op),
        ("rpc-runtime, Transport::memory()", ours_op),
        ("amqprs by hand, our topology and headers", hand_echo(&same)),
        ("rpc-runtime over RabbitMQ", ours_echo(&amqp.client)),
    ];
    let _ = writeln!(
        report,
        "## Allocations per call (one caller; client and server side, the transport's included)\n"
    );
    row(
        report,
        &["implementation", "allocations per call"].map(String::from),
    );
    row(report, &["---"; 2].map(String::from));
    for (label, op) in ops {
        op().await;
        let n = allocs::counted(async {
            for _ in 0..CALLS {
                op().await;
            }
        })
        .await;
        row(report, &[label.to_owned(), format!("{:.1}", per_call(n))]);
    }
    let _ = writeln!(report);
    amqp.close().await;
}
