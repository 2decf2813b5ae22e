//! Running a closed-loop load (N workers, each waiting for its answer
//! before sending the next) and summarising it.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What one run measured.
#[derive(Debug, Clone, Copy)]
pub struct Stats {
    pub per_second: f64,
    pub p50: Duration,
    pub p99: Duration,
}

/// One operation under load, boxed so that different implementations can
/// take turns in [`interleaved`].
pub type Op = Arc<dyn Fn() -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>;

/// Boxes an operation for [`interleaved`].
pub fn op<F, Fut>(f: F) -> Op
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    Arc::new(move || Box::pin(f()))
}

/// Runs `op` from `workers` tasks for `duration`; each op is timed.
pub async fn closed_loop<F, Fut>(workers: usize, duration: Duration, f: F) -> Stats
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let run = run(workers, duration, op(f), None).await;
    summarise(run.latencies, run.elapsed)
}

/// Measures every op in turn, `rounds` times for `duration / rounds` each
/// (starting each round with the next op), so that a machine getting busier
/// or quieter during the run weighs on all of them alike.
pub async fn interleaved(
    workers: usize,
    duration: Duration,
    rounds: u32,
    ops: &[Op],
) -> Vec<Stats> {
    let ops: Vec<(Op, Option<u32>)> = ops.iter().map(|op| (Arc::clone(op), None)).collect();
    interleaved_cpu(workers, duration, rounds, &ops)
        .await
        .into_iter()
        .map(|m| m.stats)
        .collect()
}

/// What [`interleaved_cpu`] measured of one op.
#[derive(Debug, Clone, Copy)]
pub struct Measured {
    pub stats: Stats,
    /// Ops completed (warm-up not counted).
    pub ops: usize,
    /// CPU time this process spent on them.
    pub client_cpu: Duration,
    /// CPU time the op's server process spent on them.
    pub server_cpu: Duration,
    /// CPU time the broker (RabbitMQ's `beam.smp`) spent meanwhile.
    pub broker_cpu: Duration,
    /// Context switches of this process's threads (each one a thread that
    /// went to sleep or was preempted: mostly wake-ups between tasks).
    pub client_switches: u64,
    /// Context switches of the server process's threads.
    pub server_switches: u64,
}

/// As [`interleaved`], each op with the pid of the process serving it,
/// whose CPU time is measured too.
pub async fn interleaved_cpu(
    workers: usize,
    duration: Duration,
    rounds: u32,
    ops: &[(Op, Option<u32>)],
) -> Vec<Measured> {
    let slice = duration / rounds;
    let mut runs = vec![Run::default(); ops.len()];
    for round in 0..rounds as usize {
        for turn in 0..ops.len() {
            let i = (round + turn) % ops.len();
            let (op, server) = &ops[i];
            let run = run(workers, slice, Arc::clone(op), *server).await;
            runs[i].add(run);
        }
    }
    runs.into_iter()
        .map(|run| Measured {
            ops: run.latencies.len(),
            client_cpu: run.client_cpu,
            server_cpu: run.server_cpu,
            broker_cpu: run.broker_cpu,
            client_switches: run.client_switches,
            server_switches: run.server_switches,
            stats: summarise(run.latencies, run.elapsed),
        })
        .collect()
}

/// What a closed loop measured.
#[derive(Debug, Clone, Default)]
struct Run {
    latencies: Vec<Duration>,
    elapsed: Duration,
    client_cpu: Duration,
    server_cpu: Duration,
    broker_cpu: Duration,
    client_switches: u64,
    server_switches: u64,
}

impl Run {
    fn add(&mut self, other: Run) {
        self.latencies.extend(other.latencies);
        self.elapsed += other.elapsed;
        self.client_cpu += other.client_cpu;
        self.server_cpu += other.server_cpu;
        self.broker_cpu += other.broker_cpu;
        self.client_switches += other.client_switches;
        self.server_switches += other.server_switches;
    }
}

/// CPU time (user and system, every thread) a process used so far: this
/// one, or `pid`. Linux's `/proc/<pid>/stat`, in its 100 Hz ticks.
pub fn cpu_time(pid: Option<u32>) -> Duration {
    let path = pid.map_or_else(
        || "/proc/self/stat".to_owned(),
        |p| format!("/proc/{p}/stat"),
    );
    let stat = std::fs::read_to_string(path).unwrap_or_default();
    // After the command name (in parentheses, maybe with spaces), the
    // fields start at the third: utime and stime are the 14th and 15th.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    Duration::from_millis((ticks(11) + ticks(12)) * 10)
}

/// Context switches (voluntary and not) of every thread of a process so
/// far: this one, or `pid`. Linux's `/proc/<pid>/task/*/status`.
pub fn switches(pid: Option<u32>) -> u64 {
    let dir = pid.map_or_else(
        || "/proc/self/task".to_owned(),
        |p| format!("/proc/{p}/task"),
    );
    let Ok(tasks) = std::fs::read_dir(dir) else {
        return 0;
    };
    tasks
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("status")).ok())
        .flat_map(|status| {
            status
                .lines()
                .filter(|line| line.contains("ctxt_switches:"))
                .filter_map(|line| line.split_whitespace().last()?.parse::<u64>().ok())
                .collect::<Vec<_>>()
        })
        .sum()
}

/// The pid of the local broker's Erlang VM: the oldest `beam.smp` that is
/// not one of the test cluster's nodes (under `target/rabbit-cluster`), or
/// `BENCH_BROKER_PID`.
pub fn broker_pid() -> Option<u32> {
    static PID: std::sync::OnceLock<Option<u32>> = std::sync::OnceLock::new();
    *PID.get_or_init(|| {
        if let Some(pid) = std::env::var("BENCH_BROKER_PID")
            .ok()
            .and_then(|p| p.parse().ok())
        {
            return Some(pid);
        }
        let mut found: Vec<u32> = std::fs::read_dir("/proc")
            .ok()?
            .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse().ok())
            .filter(|pid: &u32| {
                let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
                let cmdline = String::from_utf8_lossy(&cmdline);
                cmdline.contains("beam.smp") && !cmdline.contains("rabbit-cluster")
            })
            .collect();
        found.sort_unstable();
        found.first().copied()
    })
}

/// The closed loop itself: every latency, how long it ran, and the CPU
/// time this process and `server` spent meanwhile.
async fn run(workers: usize, duration: Duration, op: Op, server: Option<u32>) -> Run {
    // Warm up: a short run not counted.
    let warm = Instant::now() + duration / 10;
    while Instant::now() < warm {
        op().await;
    }
    let broker = broker_pid();
    let cpu = || {
        (
            cpu_time(None),
            server.map_or(Duration::ZERO, |p| cpu_time(Some(p))),
            broker.map_or(Duration::ZERO, |p| cpu_time(Some(p))),
        )
    };
    let (client_before, server_before, broker_before) = cpu();
    let switched = || (switches(None), server.map_or(0, |p| switches(Some(p))));
    let (client_switched, server_switched) = switched();
    let started = Instant::now();
    let deadline = started + duration;
    let mut tasks = Vec::new();
    for _ in 0..workers {
        let op = Arc::clone(&op);
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            while Instant::now() < deadline {
                let t = Instant::now();
                op().await;
                latencies.push(t.elapsed());
            }
            latencies
        }));
    }
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await.expect("load task"));
    }
    let elapsed = started.elapsed();
    let (client_after, server_after, broker_after) = cpu();
    let (client_switches, server_switches) = switched();
    Run {
        latencies,
        elapsed,
        client_cpu: client_after.saturating_sub(client_before),
        server_cpu: server_after.saturating_sub(server_before),
        broker_cpu: broker_after.saturating_sub(broker_before),
        client_switches: client_switches.saturating_sub(client_switched),
        server_switches: server_switches.saturating_sub(server_switched),
    }
}

/// Calls/s, p50 and p99 of a set of latencies over `elapsed`.
pub fn summarise(mut latencies: Vec<Duration>, elapsed: Duration) -> Stats {
    latencies.sort();
    let at = |q: f64| {
        latencies
            .get(((latencies.len() as f64 - 1.0) * q).round() as usize)
            .copied()
            .unwrap_or_default()
    };
    Stats {
        per_second: latencies.len() as f64 / elapsed.as_secs_f64(),
        p50: at(0.50),
        p99: at(0.99),
    }
}
