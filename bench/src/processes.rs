//! Services as they run: each server in a process of its own (this binary,
//! `--serve ours|hand NAME`), the callers in this one. Calls at 1, 8 and 64
//! in flight and confirmed casts at 64, ours against hand-written amqprs in
//! the same shape, with the CPU time each side spends per 10,000.

use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Read};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::atomic::Ordering;
use std::time::Duration;

use rpc_runtime::Context;

use crate::measure::{Measured, Op, interleaved_cpu, op};
use crate::{hand, ms, ours, rounds, row, url};

/// In the child: serves `name` until stdin closes, then prints how many
/// casts arrived.
pub async fn child(which: &str, name: &str) {
    match which {
        "ours" => {
            let server = ours::ServerOnly::amqp(&url(), name, 64).await;
            ready_then_wait().await;
            println!("{}", server.manager.received.load(Ordering::Relaxed));
            server.close().await;
        }
        _ => {
            let connection = hand::connect(&url()).await;
            let _server = hand::echo_server(&connection, name, 64, 0).await;
            let casts = hand::counting_consumer(&connection, &casts_queue(name), 64).await;
            // For the callers in our topology's shape.
            hand::bind_to_topic_exchange(&connection, name).await;
            hand::bind_to_topic_exchange(&connection, &casts_queue(name)).await;
            ready_then_wait().await;
            println!("{}", casts.load(Ordering::Relaxed));
        }
    }
}

async fn ready_then_wait() {
    println!("ready");
    let _ = tokio::task::spawn_blocking(|| {
        let _ = std::io::stdin().read_to_end(&mut Vec::new());
    })
    .await;
}

fn casts_queue(name: &str) -> String {
    format!("{name}-casts")
}

/// A server process; it stops when its stdin closes.
pub(crate) struct ServerProcess {
    child: Child,
    stdout: BufReader<ChildStdout>,
}

impl ServerProcess {
    pub(crate) async fn spawn(which: &'static str, name: String) -> Self {
        tokio::task::spawn_blocking(move || {
            let exe = std::env::current_exe().expect("the bench's own path");
            let mut child = Command::new(exe)
                .args(["--serve", which, &name])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .spawn()
                .expect("start a server process");
            let mut stdout = BufReader::new(child.stdout.take().expect("its stdout"));
            let mut line = String::new();
            let _ = stdout.read_line(&mut line);
            assert_eq!(line.trim(), "ready", "the {which} server did not start");
            Self { child, stdout }
        })
        .await
        .expect("spawn task")
    }

    pub(crate) fn pid(&self) -> Option<u32> {
        Some(self.child.id())
    }

    /// Stops it; returns how many casts it received.
    pub(crate) async fn stop(mut self) -> u64 {
        drop(self.child.stdin.take());
        tokio::task::spawn_blocking(move || {
            let mut line = String::new();
            let _ = self.stdout.read_line(&mut line);
            let _ = self.child.wait();
            line.trim().parse().unwrap_or(0)
        })
        .await
        .unwrap_or(0)
    }
}

/// Seconds of CPU per 10,000 operations.
fn per_10k(cpu: Duration, ops: usize) -> String {
    format!("{:.2}", cpu.as_secs_f64() * 10_000.0 / ops.max(1) as f64)
}

fn cells(label: &str, m: &Measured, base: &Measured) -> Vec<String> {
    vec![
        label.to_owned(),
        format!("{:.0}", m.stats.per_second),
        ms(m.stats.p50),
        ms(m.stats.p99),
        format!("{:.2}", m.stats.per_second / base.stats.per_second),
        format!(
            "{:.2}",
            m.stats.p50.as_secs_f64() / base.stats.p50.as_secs_f64()
        ),
        per_10k(m.client_cpu, m.ops),
        per_10k(m.server_cpu, m.ops),
        per_10k(m.broker_cpu, m.ops),
        per_call(m.client_switches, m.ops),
        per_call(m.server_switches, m.ops),
    ]
}

/// Context switches per operation.
fn per_call(switches: u64, ops: usize) -> String {
    format!("{:.1}", switches as f64 / ops.max(1) as f64)
}

const HEADER: [&str; 11] = [
    "implementation",
    "per s",
    "p50",
    "p99",
    "ratio",
    "p50 ratio",
    "client CPU s/10k",
    "server CPU s/10k",
    "broker CPU s/10k",
    "client switches per op",
    "server switches per op",
];

pub async fn section(report: &mut String, duration: Duration) {
    let id = std::process::id();
    let (ours_name, hand_name) = (format!("bench-proc-{id}"), format!("bench-proc-hand-{id}"));
    let ours_server = ServerProcess::spawn("ours", ours_name.clone()).await;
    let hand_server = ServerProcess::spawn("hand", hand_name.clone()).await;
    let (client, transport) = ours::remote_client(&url(), &ours_name).await;
    let connection = hand::connect(&url()).await;
    let caller = hand::Caller::new(&connection, &hand_name, hand::Style::Plain).await;
    let same = hand::Caller::new(&connection, &hand_name, hand::Style::SameTopology).await;
    let _ = writeln!(
        report,
        "## Services as they run: server and client in separate processes\n"
    );
    let _ = writeln!(
        report,
        "Each server runs in a process of its own; the callers run in the bench's. Ratios are against hand-written amqprs in the same shape (a server process acking on receipt, a client with a reply queue); CPU is user + system time of each process (client, server, and the broker's Erlang VM) per 10,000 calls or casts (lower is better); switches are the context switches of each process's threads per call or cast (mostly wake-ups between tasks). The middle row is the hand-written client sending what any client of our topology must (through the topic exchange, `mandatory`, the method in `type`, a content type, a preamble's worth of bytes): its ratio is the broker's price of the topology, ours against it the framework's own.\n"
    );
    let labels = [
        "amqprs by hand",
        "amqprs by hand, our topology and headers",
        "rpc-runtime",
    ];
    for workers in [1, 8, 64] {
        let _ = writeln!(report, "Calls, {workers} in flight:\n");
        row(report, &HEADER.map(String::from));
        row(report, &["---"; 11].map(String::from));
        let ops = [
            (crate::hand_echo(&caller), hand_server.pid()),
            (crate::hand_echo(&same), hand_server.pid()),
            (crate::ours_echo(&client), ours_server.pid()),
        ];
        let measured = interleaved_cpu(workers, duration, rounds(duration), &ops).await;
        for (label, m) in labels.into_iter().zip(&measured) {
            row(report, &cells(label, m, &measured[0]));
        }
        let _ = writeln!(report);
    }
    let publisher =
        hand::ConfirmedPublisher::new(&connection, &casts_queue(&hand_name), hand::Style::Plain)
            .await;
    let same_publisher = hand::ConfirmedPublisher::new(
        &connection,
        &casts_queue(&hand_name),
        hand::Style::SameTopology,
    )
    .await;
    let ops = [
        (crate::hand_cast(publisher), hand_server.pid()),
        (crate::hand_cast(same_publisher), hand_server.pid()),
        (ours_cast(&client), ours_server.pid()),
    ];
    let measured = interleaved_cpu(64, duration, rounds(duration), &ops).await;
    let _ = writeln!(report, "Confirmed casts, 64 senders:\n");
    row(report, &HEADER.map(String::from));
    row(report, &["---"; 11].map(String::from));
    for (label, m) in labels.into_iter().zip(&measured) {
        row(report, &cells(label, m, &measured[0]));
    }
    transport.close().await;
    let _ = connection.close().await;
    let (ours_received, hand_received) = (ours_server.stop().await, hand_server.stop().await);
    let _ = writeln!(
        report,
        "\nCasts counted by the server processes: {hand_received} by hand (both shapes), {ours_received} ours; confirmed in the measured turns: {} and {} by hand, {} ours (warm-up casts come on top).\n",
        measured[0].ops, measured[1].ops, measured[2].ops
    );
}

fn ours_cast(client: &ours::EchoClient) -> Op {
    let (client, text) = (client.clone(), "x".repeat(crate::PAYLOAD));
    op(move || {
        let (client, text) = (client.clone(), text.clone());
        async move { client.sink(&Context::new(), text).await.expect("cast") }
    })
}
