//! The measuring side of the fault matrix (`tests/tests/faults.rs`): a
//! storage server and a client, each on a transport of its own, exchanging
//! calls and confirmed casts in two loops while a fault is made; what each
//! side saw; and the table `cargo xtask faults` copies to `bench/FAULTS.md`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

use rpc_runtime::{AmqpConfig, CancellationToken, Context, RpcError, Server, Transport};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::cluster::Cluster;

pub mod dropped;
mod outcome;
pub mod patience;
pub mod refusals;

use crate::oslo::{RustStorage, Storage, StorageClient, StorageService};
pub use outcome::{Outcome, outcomes_table};

/// How long a call waits for its reply, and a cast for its confirm.
pub const TIMEOUT: Duration = Duration::from_secs(5);

/// How far past its deadline a call or cast may end.
pub const SLACK: Duration = Duration::from_secs(1);

/// One test's server and client.
#[derive(Debug)]
pub struct Rig {
    pub exchange: String,
    pub topic: String,
    pub storage: Arc<RustStorage>,
    pub server: Server,
    pub server_name: String,
    pub client: StorageClient,
    pub client_transport: Transport,
    pub client_name: String,
}

impl Rig {
    /// A server (quorum queues) reaching the cluster through the nodes in
    /// `server_order`, and a client through `client_order`, both with
    /// `heartbeat`-second heartbeats.
    pub async fn new(
        cluster: &Cluster,
        client_order: [u8; 3],
        server_order: [u8; 3],
        heartbeat: u16,
    ) -> Self {
        Self::configured(cluster, (client_order, server_order), heartbeat, |c| c).await
    }

    /// [`Rig::new`], with both transports' configuration changed by `tweak`.
    pub async fn configured(
        cluster: &Cluster,
        (client_order, server_order): ([u8; 3], [u8; 3]),
        heartbeat: u16,
        tweak: impl Fn(AmqpConfig) -> AmqpConfig,
    ) -> Self {
        let id = uuid::Uuid::new_v4().simple().to_string();
        let exchange = format!("rpc-fault-{}", &id[..12]);
        let topic = format!("f-{}", &id[..12]);
        let connect = |order: [u8; 3], name: String| {
            tweak(AmqpConfig::from_url(&cluster.url(order)).expect("URL"))
                .control_exchange(&exchange)
                .with_heartbeat(heartbeat)
                .connection_timeout(Duration::from_secs(3))
                .connection_name(name)
                .connect()
        };
        let server_name = format!("{topic}-server");
        let server_transport = connect(server_order, server_name.clone())
            .await
            .expect("server connects");
        let storage = Arc::new(RustStorage::new("s1"));
        let server = Server::builder(&server_transport, "s1")
            .quorum_queues(Some(5))
            .serve_on(&topic, StorageService::from_arc(Arc::clone(&storage)))
            .start()
            .await
            .expect("start the server");
        let client_name = format!("{topic}-client");
        let client_transport = connect(client_order, client_name.clone())
            .await
            .expect("client connects");
        let client = StorageClient::new(&client_transport)
            .topic(&topic)
            .timeout(TIMEOUT);
        Self {
            exchange,
            topic,
            storage,
            server,
            server_name,
            client,
            client_transport,
            client_name,
        }
    }

    /// The pids of the client's and the server's connections, as
    /// rabbitmqctl shows them (a reconnect changes them).
    pub async fn connection_pids(&self, cluster: &Cluster) -> (String, String) {
        (
            connection_pid(cluster, &self.client_name).await,
            connection_pid(cluster, &self.server_name).await,
        )
    }

    /// Deletes what the rig declared, through `node`.
    pub async fn cleanup(&self, cluster: &Cluster, node: u8) {
        for queue in [self.topic.clone(), format!("{}.s1", self.topic)] {
            cluster.ctl(node, &["delete_queue", &queue]).await;
        }
    }
}

/// The pid of the connection named `name` (the `connection_name` of its
/// client properties), as rabbitmqctl shows it.
pub async fn connection_pid(cluster: &Cluster, name: &str) -> String {
    let listed = cluster
        .ctl(2, &["list_connections", "pid", "client_properties", "-q"])
        .await;
    let quoted = format!("\"{name}\"");
    listed
        .lines()
        .filter(|l| l.contains(&quoted))
        .find_map(|l| l.split_once('\t'))
        .map(|(pid, _)| pid.to_owned())
        .unwrap_or_else(|| panic!("no connection named {name} in {listed}"))
}

/// One call or cast of a loop.
#[derive(Debug, Clone)]
pub struct Sent {
    pub started: Instant,
    pub took: Duration,
    /// `None` when it succeeded, else the error's kind.
    pub failed: Option<&'static str>,
    /// What the error said, when it failed.
    pub error: Option<String>,
    /// The note a cast carried.
    pub note: Option<String>,
}

/// The two loops of a rig's client.
#[derive(Debug)]
pub struct Load {
    stop: CancellationToken,
    calls: JoinHandle<Vec<Sent>>,
    casts: JoinHandle<Vec<Sent>>,
}

impl Load {
    /// Starts calling `add` and casting `record` in two loops.
    pub fn start(client: &StorageClient) -> Self {
        let stop = CancellationToken::new();
        let calls = {
            let (client, stop) = (client.clone(), stop.clone());
            tokio::spawn(async move {
                let ctx = Context::new();
                let mut sent = Vec::new();
                let mut n = 0i64;
                while !stop.is_cancelled() {
                    let started = Instant::now();
                    let (failed, error) = match client.add(&ctx, n, 1).await {
                        Ok(sum) if sum == n + 1 => (None, None),
                        Ok(_) => (Some("wrong answer"), None),
                        Err(error) => (Some(error.kind()), Some(error.to_string())),
                    };
                    sent.push(Sent {
                        started,
                        took: started.elapsed(),
                        failed,
                        error,
                        note: None,
                    });
                    n += 1;
                    pause_after(failed).await;
                }
                sent
            })
        };
        let casts = {
            let (client, stop) = (client.clone(), stop.clone());
            tokio::spawn(async move {
                let ctx = Context::new();
                let mut sent = Vec::new();
                let mut n = 0u64;
                while !stop.is_cancelled() {
                    let note = format!("n{n}");
                    let started = Instant::now();
                    let error = client.record(&ctx, note.clone()).await.err();
                    let failed = error.as_ref().map(RpcError::kind);
                    sent.push(Sent {
                        started,
                        took: started.elapsed(),
                        failed,
                        error: error.map(|e| e.to_string()),
                        note: Some(note),
                    });
                    n += 1;
                    pause_after(failed).await;
                }
                sent
            })
        };
        Self { stop, calls, casts }
    }

    /// Stops both loops; returns the calls and the casts they sent.
    pub async fn stop(self) -> (Vec<Sent>, Vec<Sent>) {
        self.stop.cancel();
        let calls = self.calls.await.expect("the call loop");
        let casts = self.casts.await.expect("the cast loop");
        (calls, casts)
    }
}

/// A loop goes on at once after a success, after a short pause after a
/// failure (a failing transport fails fast; no need to spin).
async fn pause_after(failed: Option<&'static str>) {
    let pause = if failed.is_some() { 50 } else { 1 };
    tokio::time::sleep(Duration::from_millis(pause)).await;
}

/// What one case of the matrix saw.
#[derive(Debug, Default)]
pub struct Report {
    pub case: String,
    pub casts_confirmed: usize,
    pub casts_failed: BTreeMap<&'static str, usize>,
    pub casts_handled: usize,
    pub casts_lost: usize,
    /// Of those, confirmed while the queue holding them was being deleted.
    pub casts_lost_with_queue: usize,
    pub calls_ok: usize,
    pub calls_failed: BTreeMap<&'static str, usize>,
    /// What the first failure of each kind said (calls and casts).
    pub errors: BTreeMap<&'static str, String>,
    pub longest_call: Duration,
    pub longest_cast: Duration,
    /// From the fault to the end of the first call that succeeded after
    /// the last one that failed (zero when none failed).
    pub recovered: Option<Duration>,
    /// What broke the case's promises.
    pub problems: Vec<String>,
}

impl Report {
    /// Counts what the loops saw; the fault was made from `fault.0` to
    /// `fault.1`, and calls must succeed again within `recover_within` of
    /// its end. With `deletes_queue`, the casts confirmed while the fault
    /// was made may be lost with the queue it deleted (deleting a queue
    /// deletes the messages in it; no client can keep them).
    pub async fn new(
        case: &str,
        rig: &Rig,
        (calls, casts): (&[Sent], &[Sent]),
        (began, fault): (Instant, Instant),
        recover_within: Duration,
        deletes_queue: bool,
    ) -> Self {
        let mut report = Self {
            case: case.to_owned(),
            ..Self::default()
        };
        for sent in calls.iter().chain(casts) {
            if let (Some(kind), Some(error)) = (sent.failed, &sent.error) {
                report.errors.entry(kind).or_insert_with(|| error.clone());
            }
        }
        for call in calls {
            report.longest_call = report.longest_call.max(call.took);
            match call.failed {
                None => report.calls_ok += 1,
                Some(kind) => *report.calls_failed.entry(kind).or_default() += 1,
            }
        }
        // Calls serve again once one succeeds after the last that failed.
        let end = |c: &Sent| c.started + c.took;
        let last_failure = calls
            .iter()
            .filter(|c| c.failed.is_some() && end(c) >= fault)
            .map(end)
            .max();
        report.recovered = match last_failure {
            None => Some(Duration::ZERO),
            Some(failed) => calls
                .iter()
                .find(|c| c.failed.is_none() && c.started >= failed)
                .map(|c| end(c).duration_since(fault)),
        };
        let mut confirmed = Vec::new();
        for cast in casts {
            report.longest_cast = report.longest_cast.max(cast.took);
            match cast.failed {
                None => confirmed.extend(cast.note.clone()),
                Some(kind) => *report.casts_failed.entry(kind).or_default() += 1,
            }
        }
        report.casts_confirmed = confirmed.len();
        // Every confirmed cast reaches the server, however late.
        let deadline = Instant::now() + Duration::from_secs(30);
        let missing: Vec<&Sent> = loop {
            let notes = rig.storage.notes(&Context::new()).await;
            let missing: Vec<&Sent> = casts
                .iter()
                .filter(|c| c.failed.is_none())
                .filter(|c| c.note.as_ref().is_some_and(|n| !notes.contains(n)))
                .collect();
            if missing.is_empty() || Instant::now() > deadline {
                break missing;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        report.casts_handled = confirmed.len() - missing.len();
        report.casts_lost = missing.len();
        report.casts_lost_with_queue = missing
            .iter()
            .filter(|c| deletes_queue && end(c) >= began && end(c) <= fault)
            .count();
        report.check(recover_within);
        report
    }

    fn check(&mut self, recover_within: Duration) {
        let lost = self.casts_lost - self.casts_lost_with_queue;
        if lost > 0 {
            self.problems
                .push(format!("{lost} confirmed casts were lost"));
        }
        let limit = TIMEOUT + SLACK;
        if self.longest_call > limit {
            self.problems
                .push(format!("a call took {:?}", self.longest_call));
        }
        if self.longest_cast > limit {
            self.problems
                .push(format!("a cast took {:?}", self.longest_cast));
        }
        match self.recovered {
            Some(after) if after <= recover_within => {}
            Some(after) => self.problems.push(format!(
                "calls succeeded again only {after:?} after the fault"
            )),
            None => self
                .problems
                .push("no call succeeded after the fault".to_owned()),
        }
    }

    /// The report as a row of the table.
    pub fn row(&self) -> String {
        let failed = |counts: &BTreeMap<&'static str, usize>| {
            if counts.is_empty() {
                return "0".to_owned();
            }
            let parts: Vec<String> = counts.iter().map(|(k, n)| format!("{n} {k}")).collect();
            parts.join(", ")
        };
        let recovered = self
            .recovered
            .map_or("never".to_owned(), |d| format!("{:.1}", d.as_secs_f64()));
        let lost = match self.casts_lost_with_queue {
            0 => self.casts_lost.to_string(),
            with_queue => format!("{} ({with_queue} with the deleted queue)", self.casts_lost),
        };
        format!(
            "| {} | {} / {} / {} | {} | {} | {} | {:.2} | {:.2} | {} |",
            self.case,
            self.casts_confirmed,
            self.casts_handled,
            lost,
            failed(&self.casts_failed),
            self.calls_ok,
            failed(&self.calls_failed),
            self.longest_call.as_secs_f64(),
            self.longest_cast.as_secs_f64(),
            recovered,
        )
    }
}

/// The table of every case, as `bench/FAULTS.md` shows it.
pub fn table(reports: &[Report]) -> String {
    let mut out = String::from(
        "| case | casts confirmed / handled / lost | casts failed | calls ok | calls failed | longest call (s) | longest cast (s) | calls succeed again after (s) |\n|---|---|---|---|---|---|---|---|\n",
    );
    for report in reports {
        let _ = writeln!(out, "{}", report.row());
    }
    out
}
