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
    let (latencies, elapsed) = run(workers, duration, op(f)).await;
    summarise(latencies, elapsed)
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
    let slice = duration / rounds;
    let mut runs: Vec<(Vec<Duration>, Duration)> = vec![(Vec::new(), Duration::ZERO); ops.len()];
    for round in 0..rounds as usize {
        for turn in 0..ops.len() {
            let i = (round + turn) % ops.len();
            let (latencies, elapsed) = run(workers, slice, Arc::clone(&ops[i])).await;
            runs[i].0.extend(latencies);
            runs[i].1 += elapsed;
        }
    }
    runs.into_iter()
        .map(|(latencies, elapsed)| summarise(latencies, elapsed))
        .collect()
}

/// The closed loop itself: every latency, and how long it ran.
async fn run(workers: usize, duration: Duration, op: Op) -> (Vec<Duration>, Duration) {
    // Warm up: a short run not counted.
    let warm = Instant::now() + duration / 10;
    while Instant::now() < warm {
        op().await;
    }
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
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.expect("load task"));
    }
    (all, started.elapsed())
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
