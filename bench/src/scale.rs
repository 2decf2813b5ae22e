//! A region on one broker: N servers of one topic in 4 processes, ours
//! (one Transport per process) against oslo.messaging 18.x (one transport
//! per process, a listener connection per server, as oslo has it), on the
//! same RabbitMQ. Counted from the broker: connections, channels, queues,
//! memory per server, idle CPU; timed: a fanout cast reaching every server,
//! a call to one server, starting and stopping them all, and the queues a
//! clean stop leaves.
//!
//! Each server process is this binary (`--scale-serve ours TOPIC FIRST
//! COUNT`) or `bench/scale_oslo.py` in the test venv; it prints `ready`,
//! `got N` each time its servers together received N casts (a multiple of
//! COUNT: a fanout reached all of them), and `stopped` once `stop` on its
//! stdin has shut them down.

use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use rpc_runtime::wire::Wire;
use rpc_runtime::{AmqpConfig, Context};

use crate::broker::{broker_memory, connections, management_on, queues};
use crate::measure::{broker_pid, cpu_time};
use crate::ours::EchoClient;
use crate::scale_serve::{EXCHANGE, url_for};
use crate::{ms, row, url};

const PROCESSES: usize = 4;
const FANOUTS: usize = 10;
const CALLS: usize = 50;
/// Idle CPU is read over this many windows of [`IDLE`]: the broker has
/// periodic bursts of its own (a window in a minute or so), so the median
/// says what it costs steadily and the highest shows the bursts.
const WINDOWS: usize = 5;
const IDLE: Duration = Duration::from_secs(10);
const START_LIMIT: Duration = Duration::from_secs(300);
/// The most oslo.messaging servers run (see the section's note).
const OSLO_MOST: usize = 1000;

/// Whose servers a process runs.
#[derive(Clone, Copy, PartialEq)]
enum Side {
    Ours,
    Oslo,
    /// The same queues and consumers as ours by hand, and nothing else.
    Bare,
}

impl Side {
    fn name(self) -> &'static str {
        match self {
            Side::Ours => "ours",
            Side::Oslo => "oslo",
            Side::Bare => "bare",
        }
    }
}

/// Where the server processes' logs go, one file per process.
fn logs() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/bench-scale")
}

/// One server process, ours or oslo's.
struct Process {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: std::sync::mpsc::Receiver<String>,
}

impl Process {
    fn spawn(side: Side, stream: bool, topic: &str, first: usize, count: usize) -> Self {
        let mut command = if side == Side::Oslo {
            let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
            let mut c = Command::new(root.join("../target/oslo-venv/bin/python"));
            c.arg(root.join("scale_oslo.py")).arg(url()).arg(EXCHANGE);
            c
        } else {
            let mut c = Command::new(std::env::current_exe().expect("own path"));
            c.args(["--scale-serve", side.name()]);
            c
        };
        let fanout = if stream { "stream" } else { "classic" };
        let log = std::fs::create_dir_all(logs())
            .and_then(|()| std::fs::File::create(logs().join(format!("{topic}-{first}.log"))))
            .map_or_else(|_| Stdio::null(), Stdio::from);
        let mut child = command
            .args([topic, &first.to_string(), &count.to_string(), fanout])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .expect("start a server process");
        let stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in stdout.lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        let stdin = child.stdin.take();
        Self {
            child,
            stdin,
            lines,
        }
    }

    /// Waits for a line satisfying `done`, at most until `deadline`.
    fn wait_for(&self, deadline: Instant, done: impl Fn(&str) -> bool) -> bool {
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if done(&line) => return true,
                Ok(_) => {}
                Err(_) => return false,
            }
        }
    }

    fn stop(&mut self) {
        if let Some(mut stdin) = self.stdin.take() {
            let _ = writeln!(stdin, "stop");
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One measured row.
struct Row {
    connections: usize,
    channels: u64,
    queues: usize,
    memory_per_server: u64,
    /// Median and highest of the windows, in % of a core.
    idle_cpu: (f64, f64),
    fanout_p50: Option<Duration>,
    call_p50: Option<Duration>,
    start: Duration,
    stop: Duration,
    left: usize,
}

async fn measure(side: Side, stream: bool, servers: usize) -> Result<Row, String> {
    let topic = format!(
        "scale-{}-{stream}-{servers}-{}",
        side.name(),
        std::process::id()
    );
    let (connections_before, channels_before) = connections();
    let memory_before = broker_memory();
    let per = servers / PROCESSES;
    let started = Instant::now();
    let mut processes: Vec<Process> = (0..PROCESSES)
        .map(|p| Process::spawn(side, stream, &topic, p * per, per))
        .collect();
    let deadline = started + START_LIMIT;
    for process in &processes {
        if !process.wait_for(deadline, |l| l == "ready") {
            return Err(format!(
                "not all {servers} started within {START_LIMIT:?} (logs: target/bench-scale/{topic}-*.log)"
            ));
        }
    }
    let start = started.elapsed();
    tokio::time::sleep(Duration::from_secs(5)).await;
    let (connections_after, channels_after) = connections();
    let memory_after = broker_memory();
    let queue_count = queues(&topic);
    let broker = broker_pid();
    let mut windows = Vec::with_capacity(WINDOWS);
    for _ in 0..WINDOWS {
        let cpu_before = cpu_time(broker);
        tokio::time::sleep(IDLE).await;
        windows.push((cpu_time(broker) - cpu_before).as_secs_f64() / IDLE.as_secs_f64() * 100.0);
    }
    windows.sort_by(f64::total_cmp);
    let idle_cpu = (windows[WINDOWS / 2], windows[WINDOWS - 1]);

    let (fanouts, calls) = if side == Side::Bare {
        (Vec::new(), Vec::new())
    } else {
        timed(side, stream, &topic, servers, &processes).await?
    };

    let stopping = Instant::now();

    for process in &mut processes {
        process.stop();
    }
    let deadline = stopping + Duration::from_secs(300);
    for process in &processes {
        process.wait_for(deadline, |l| l == "stopped");
    }
    let stop = stopping.elapsed();
    drop(processes);
    tokio::time::sleep(Duration::from_secs(2)).await;
    Ok(Row {
        connections: connections_after.saturating_sub(connections_before),
        channels: channels_after.saturating_sub(channels_before),
        queues: queue_count,
        memory_per_server: memory_after.saturating_sub(memory_before) / servers as u64,
        idle_cpu,
        fanout_p50: p50(fanouts),
        call_p50: p50(calls),
        start,
        stop,
        left: queues(&topic),
    })
}

/// Fanouts until every server had them, and calls to the last server.
async fn timed(
    side: Side,
    stream: bool,
    topic: &str,
    servers: usize,
    processes: &[Process],
) -> Result<(Vec<Duration>, Vec<Duration>), String> {
    let per = servers / PROCESSES;
    let caller = AmqpConfig::from_url(&url_for(stream))
        .expect("url")
        .control_exchange(EXCHANGE)
        .wire(if side == Side::Oslo {
            Wire::Oslo
        } else {
            Wire::Native
        })
        .connect()
        .await
        .map_err(|e| e.to_string())?;
    let client = EchoClient::new(&caller)
        .topic(topic)
        .timeout(Duration::from_secs(60));
    let ctx = Context::new();
    let mut fanouts = Vec::new();
    for round in 1..=FANOUTS {
        let sent = Instant::now();
        client
            .fanout()
            .sink(&ctx, "x".into())
            .await
            .map_err(|e| e.to_string())?;
        let want = (round * per) as u64;
        let deadline = Instant::now() + Duration::from_secs(10);
        let all = processes.iter().all(|p| {
            p.wait_for(deadline, |l| {
                l.strip_prefix("got ").and_then(|n| n.parse::<u64>().ok()) >= Some(want)
            })
        });
        if !all {
            break;
        }
        fanouts.push(sent.elapsed());
    }
    let last = format!("s{}", servers - 1);
    let mut calls = Vec::new();
    for _ in 0..CALLS {
        let sent = Instant::now();
        match client.to_server(&last).echo(&ctx, "x".into()).await {
            Ok(_) => calls.push(sent.elapsed()),
            Err(_) => break,
        }
    }
    caller.close().await;
    Ok((fanouts, calls))
}

fn p50(mut samples: Vec<Duration>) -> Option<Duration> {
    samples.sort();
    samples.get(samples.len() / 2).copied()
}

/// `servers` values to run, and those oslo is not run at (and why).
pub async fn section(report: &mut String, quick: bool) {
    let sizes: &[usize] = if quick { &[100] } else { &[100, 1000, 5000] };
    let _ = writeln!(
        report,
        "## A region on one broker: N servers of one topic in {PROCESSES} processes, management plugin {}\n\n{}\n\n\
         Ours: one `Transport` per process. oslo.messaging 18.x (the test venv): one transport per process, \
         `executor=eventlet`, monkey-patched, as nova-compute and cinder-volume run. The bare row is the \
         broker's floor: one amqprs connection per process declaring and consuming exactly the queues our \
         servers do (3 consumers a server), doing nothing else. Counted by the broker after the servers started (minus what was there before); \
         idle CPU is the median (and highest) of {WINDOWS} windows of {} s of the broker's CPU with nothing sent; fanout p50 of {FANOUTS} casts to `fanout()` until \
         every server had it; call p50 of {CALLS} calls to the last server.\n",
        if management_on() { "on" } else { "off" },
        crate::report::machine(),
        IDLE.as_secs()
    );
    row(
        report,
        &[
            "servers",
            "implementation",
            "connections",
            "channels",
            "queues",
            "broker memory / server",
            "idle broker CPU",
            "fanout to all p50",
            "call p50",
            "start all",
            "stop all",
            "queues left",
        ]
        .map(String::from),
    );
    row(report, &vec!["---".to_owned(); 12]);
    for &servers in sizes {
        let runs = [
            (Side::Bare, false),
            (Side::Ours, false),
            (Side::Ours, true),
            (Side::Oslo, false),
            (Side::Oslo, true),
        ];
        for (side, stream) in runs {
            let fanout = if stream { "stream" } else { "classic" };
            let name = match side {
                Side::Bare => "amqprs by hand: our queues and consumers, nothing else".to_owned(),
                Side::Ours => format!("ours, {fanout} fanout"),
                Side::Oslo => format!("oslo.messaging, {fanout} fanout"),
            };
            if side == Side::Oslo && servers > OSLO_MOST {
                row(
                    report,
                    &[servers.to_string(), name, "not run: see below".into()],
                );
                continue;
            }
            eprintln!("scale: {servers} servers, {name}");
            let timed = |t: Option<Duration>, missing: &str| match (side, t) {
                (Side::Bare, _) => "-".to_owned(),
                (_, Some(t)) => ms(t),
                (_, None) => missing.to_owned(),
            };
            match measure(side, stream, servers).await {
                Ok(r) => row(
                    report,
                    &[
                        servers.to_string(),
                        name.clone(),
                        r.connections.to_string(),
                        r.channels.to_string(),
                        r.queues.to_string(),
                        format!("{:.0} KB", r.memory_per_server as f64 / 1024.0),
                        format!("{:.1} % (max {:.1} %)", r.idle_cpu.0, r.idle_cpu.1),
                        timed(r.fanout_p50, "did not reach all"),
                        timed(r.call_p50, "no answer"),
                        format!("{:.1} s", r.start.as_secs_f64()),
                        format!("{:.1} s", r.stop.as_secs_f64()),
                        r.left.to_string(),
                    ],
                ),
                Err(why) => row(report, &[servers.to_string(), name, why]),
            }
        }
    }
    let _ = writeln!(
        report,
        "\nStream fanout (`rabbit_stream_fanout`): one stream queue `<topic>_fanout` per topic, which outlives \
         its servers by design (kept for `rabbit_transient_queues_ttl` as `x-max-age`): the one queue left. \
         oslo.messaging is run up to 1,000: at 5,000 its connection per server would need ~20 GB of broker \
         memory at the ~4 MB each it takes (this machine has 24 GB). With `executor=threading` instead, 1,000 \
         servers (~2,750 threads a process) pushed the load average past 900 on 2 cores and their \
         connections did not hold. With the management plugin on (`rabbitmq-plugins enable \
         rabbitmq_management`), an idle broker's work at thousands of queues is mostly the plugin's statistics \
         (each queue, channel and consumer, every 5 s), whoever the client: each plugin state has a section of \
         its own, and in each the bare row shows what the queues cost without any client logic. The broker runs with \
         20,000 file descriptors (its default 1,024 caps it at ~830 connections, and a stream reader \
         holds files of its own: 1,000 stream consumers need more than 1,024).\n"
    );
}
