//! Case (i) of the fault matrix: handlers that run longer than the broker's
//! `consumer_timeout`. RabbitMQ takes back a delivery left unacked that
//! long (it closes the channel and delivers the message again); every
//! request must still be handled exactly once, whether the server acks on
//! receipt or after handling, with one slot or several.
//!
//! The cluster is set to a 4 s `consumer_timeout`, checked every second
//! (`channel_tick_interval`; RabbitMQ's default checks once a minute), and
//! each handler takes 6 s. The transports are not told the timeout: they
//! learn it when the broker first enforces it.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rpc_runtime::{AckMode, AmqpConfig, Context, Server, rpc_service};
use tokio::time::Instant;

use super::outcome::Outcome;
use crate::cluster::Cluster;

/// The broker's consumer timeout in the case, in ms.
const CONSUMER_TIMEOUT_MS: u64 = 4000;

/// How long each handler runs.
const HANDLER: Duration = Duration::from_secs(6);

/// A service whose handlers take their time.
#[rpc_service(topic = "patience")]
pub trait Patience {
    /// Works on job `n` for `ms` milliseconds; returns `n`.
    async fn work(&self, ctx: &Context, n: u64, ms: u64) -> u64;
    /// The same, one-way.
    #[rpc(cast)]
    async fn chore(&self, ctx: &Context, n: u64, ms: u64);
}

/// Counts how often each job ran.
#[derive(Debug, Default)]
pub struct Worker {
    runs: Mutex<BTreeMap<u64, u32>>,
}

impl Worker {
    async fn run(&self, n: u64, ms: u64) {
        *self
            .runs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(n)
            .or_default() += 1;
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }

    fn runs(&self) -> BTreeMap<u64, u32> {
        self.runs.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

impl Patience for Worker {
    async fn work(&self, _ctx: &Context, n: u64, ms: u64) -> u64 {
        self.run(n, ms).await;
        n
    }

    async fn chore(&self, _ctx: &Context, n: u64, ms: u64) {
        self.run(n, ms).await;
    }
}

/// The case's name for `concurrency` and `acks`.
pub fn case_name(concurrency: usize, acks: AckMode) -> String {
    let acks = match acks {
        AckMode::OnReceipt => "acks on receipt",
        _ => "casts acked after handling",
    };
    format!("(i) handlers of 6 s, consumer_timeout 4 s, {concurrency} slot(s), {acks}")
}

/// Runs the case: `concurrency + 2` jobs (calls and casts in turn) to a
/// server with `concurrency` slots acking as `acks`.
pub async fn consumer_timeout(cluster: &Cluster, concurrency: usize, acks: AckMode) -> Outcome {
    let mut outcome = Outcome::new(case_name(concurrency, acks));
    let timeout = cluster
        .set_env("consumer_timeout", &CONSUMER_TIMEOUT_MS.to_string())
        .await;
    let tick = cluster.set_env("channel_tick_interval", "1000").await;
    let id = uuid::Uuid::new_v4().simple().to_string();
    let (exchange, topic) = (
        format!("rpc-fault-{}", &id[..12]),
        format!("p-{}", &id[..12]),
    );
    let connect = |order| {
        AmqpConfig::from_url(&cluster.url(order))
            .expect("URL")
            .control_exchange(&exchange)
            .connect()
    };
    let server_transport = connect([2, 3, 1]).await.expect("server connects");
    let worker = Arc::new(Worker::default());
    let server = Server::builder(&server_transport, "s1")
        .quorum_queues(Some(5))
        .concurrency(concurrency)
        .ack_mode(acks)
        .serve_on(&topic, PatienceService::from_arc(Arc::clone(&worker)))
        .start()
        .await
        .expect("start the server");
    let client_transport = connect([1, 2, 3]).await.expect("client connects");
    let client = PatienceClient::new(&client_transport)
        .topic(&topic)
        .timeout(Duration::from_secs(60));
    let jobs = u64::try_from(concurrency).unwrap_or(1) + 2;
    let ms = u64::try_from(HANDLER.as_millis()).unwrap_or(u64::MAX);
    let started = Instant::now();
    let mut calls = Vec::new();
    for n in 0..jobs {
        let client = client.clone();
        if n % 2 == 0 {
            calls.push(tokio::spawn(async move {
                client.work(&Context::new(), n, ms).await
            }));
        } else if let Err(error) = client.chore(&Context::new(), n, ms).await {
            outcome.problems.push(format!("cast {n} failed: {error}"));
        }
    }
    for (call, n) in calls.into_iter().zip((0..jobs).step_by(2)) {
        match call.await.expect("a call task") {
            Ok(answer) if answer == n => {}
            other => outcome.problems.push(format!("call {n}: {other:?}")),
        }
    }
    // Once the queues hold nothing (nothing unacked either), nothing can
    // come back to run again.
    let drained = crate::cluster::eventually_async(Duration::from_secs(60), || async {
        let all = worker.runs().len() as u64 == jobs;
        all && queued(cluster, &topic).await == 0
    })
    .await;
    outcome.expect(drained, || {
        "the jobs did not all run and settle within 60 s".to_owned()
    });
    let runs = worker.runs();
    let twice: Vec<_> = runs.iter().filter(|(_, r)| **r > 1).collect();
    let once = runs.values().filter(|r| **r == 1).count();
    outcome.expect(twice.is_empty(), || {
        format!("jobs run more than once: {twice:?}")
    });
    outcome.expect(once as u64 == jobs, || format!("{once} of {jobs} jobs ran"));
    outcome.saw = format!(
        "{jobs} jobs ({} calls, {} casts): {once} ran once, {} more than once, all done in {:.0} s",
        jobs.div_ceil(2),
        jobs / 2,
        twice.len(),
        started.elapsed().as_secs_f64()
    );
    server.shutdown().await;
    // A clean stop removes the server's own (quorum) queue.
    let own = format!("{topic}.s1");
    let listed = cluster.ctl(2, &["list_queues", "name", "-q"]).await;
    outcome.expect(!listed.lines().any(|l| l == own), || {
        format!("the server's own queue `{own}` was left after a clean stop")
    });
    client_transport.close().await;
    server_transport.close().await;
    for queue in [topic.clone(), format!("{topic}.s1")] {
        cluster.ctl(2, &["delete_queue", &queue]).await;
    }
    cluster.restore_env("channel_tick_interval", &tick).await;
    cluster.restore_env("consumer_timeout", &timeout).await;
    outcome
}

/// Messages in `queue`, ready or unacked (0 when it is gone).
async fn queued(cluster: &Cluster, queue: &str) -> u64 {
    let listed = cluster
        .ctl(2, &["list_queues", "name", "messages", "-q"])
        .await;
    listed
        .lines()
        .filter_map(|l| l.split_once('\t'))
        .filter(|(name, _)| *name == queue)
        .filter_map(|(_, n)| n.trim().parse::<u64>().ok())
        .sum()
}
