//! The fault matrix, on the 3-node cluster of `tests/cluster/cluster.sh`:
//! for each fault a RabbitMQ deployment meets, a client and a server (each
//! on a transport of its own) exchange calls (5 s timeout) and confirmed
//! casts in two loops for 20 s, the fault made at 5 s. Each case must lose
//! no confirmed cast, end every call and cast within 1 s of its deadline,
//! serve calls again within 10 s of the fault (counted from when it took
//! effect: the kill, the last rabbitmqctl command, the end of a burst, the
//! return of a paused node, the restart, the lifting of an alarm; 1 s for
//! an alarm), and serve a new call and cast on the same transport objects
//! at the end. Then the broker's own policies, each a case of its own
//! shape (`rpc_tests::faults::{patience, refusals, dropped}`): consumer
//! timeouts (i), permissions (m), message size (n), transports dropped
//! without closing (o). The tables of what each case saw are written to
//! `target/faults/FAULTS.md` (`cargo xtask faults` copies them to
//! `bench/FAULTS.md`); `RPC_FAULTS_ONLY=(a),(j)` runs some cases only.

use std::time::Duration;

use rpc_runtime::{AckMode, Context};
use rpc_tests::cluster::Cluster;
use rpc_tests::faults::{self, Load, Report, Rig, connection_pid, dropped, patience, refusals};
use rpc_tests::oslo::StorageClient;
use tokio::time::Instant;

/// When the fault is made, after the loops started.
const FAULT_AT: Duration = Duration::from_secs(5);
/// How long the loops run in all (at least).
const RUN: Duration = Duration::from_secs(20);
/// How soon after the fault calls must succeed again.
const RECOVER: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, Copy)]
enum Fault {
    /// kill -9 of the node the client is connected to.
    KillClientNode,
    /// kill -9 of the node holding the client, the server and the quorum
    /// queues' leaders.
    KillEverythingsNode,
    /// SIGSTOP of the client's node (2 s heartbeats), resumed 6 s later.
    PauseClientNode,
    /// `rabbitmqctl close_connection` of the client's and the server's
    /// connections.
    CloseConnections,
    /// The client's reply queue deleted.
    DeleteReplyQueue,
    /// The server's topic queue deleted.
    DeleteTopicQueue,
    /// 3,000 channels closed by the broker on the client's connection
    /// (fanout casts to a topic nobody serves).
    ServerClosedChannels,
    /// A message whose properties amqprs cannot decode, on the server's queue.
    Poison,
    /// kill -9 of all three nodes; started again [`CLUSTER_DOWN`] later.
    KillCluster,
    /// A memory alarm on node 1 (`set_vm_memory_high_watermark 0.000001`)
    /// for [`ALARM`]: the whole cluster blocks publishers.
    MemoryAlarm,
    /// A disk alarm on node 1 (`set_disk_free_limit 10000GB`) for [`ALARM`].
    DiskAlarm,
}

/// How long the whole cluster stays down.
const CLUSTER_DOWN: Duration = Duration::from_secs(20);

/// How long an alarm lasts.
const ALARM: Duration = Duration::from_secs(15);

/// How soon after an alarm is lifted calls must succeed again.
const AFTER_ALARM: Duration = Duration::from_secs(1);

impl Fault {
    fn name(self) -> &'static str {
        match self {
            Fault::KillClientNode => "(a) kill -9 the client's node",
            Fault::KillEverythingsNode => {
                "(b) kill -9 the node of client, server and quorum leaders"
            }
            Fault::PauseClientNode => "(c) SIGSTOP the client's node for 6 s (heartbeat 2 s)",
            Fault::CloseConnections => "(d) close_connection of client and server",
            Fault::DeleteReplyQueue => "(e) the client's reply queue deleted",
            Fault::DeleteTopicQueue => "(f) the server's topic queue deleted",
            Fault::ServerClosedChannels => "(g) 3,000 channels closed by the broker",
            Fault::Poison => "(h) a message with a non-UTF-8 property",
            Fault::KillCluster => "(l) kill -9 all three nodes, start them 20 s later",
            Fault::MemoryAlarm => "(j) a memory alarm for 15 s",
            Fault::DiskAlarm => "(k) a disk alarm for 15 s",
        }
    }

    /// The rabbitmqctl commands that raise and lift the fault's alarm, and
    /// the broker's reason for blocking.
    fn alarm(self) -> Option<([&'static str; 2], [&'static str; 2], &'static str)> {
        match self {
            Fault::MemoryAlarm => Some((
                ["set_vm_memory_high_watermark", "0.000001"],
                ["set_vm_memory_high_watermark", "0.4"],
                "low on memory",
            )),
            Fault::DiskAlarm => Some((
                ["set_disk_free_limit", "10000GB"],
                ["set_disk_free_limit", "50MB"],
                "low on disk",
            )),
            _ => None,
        }
    }

    /// How soon calls must succeed again after the fault took effect.
    fn recover_within(self) -> Duration {
        match self.alarm() {
            Some(_) => AFTER_ALARM,
            None => RECOVER,
        }
    }

    /// The nodes the client and the server try first.
    fn orders(self) -> ([u8; 3], [u8; 3]) {
        match self {
            Fault::KillEverythingsNode => ([1, 2, 3], [1, 2, 3]),
            _ => ([1, 2, 3], [2, 3, 1]),
        }
    }

    fn heartbeat(self) -> u16 {
        match self {
            Fault::PauseClientNode => 2,
            _ => 10,
        }
    }

    /// Makes the fault; returns when it took effect (the end of a burst,
    /// the return of a paused node, the lifting of an alarm).
    async fn make(self, cluster: &Cluster, rig: &Rig) -> Instant {
        match self {
            Fault::KillCluster => {
                for node in 1..=3 {
                    cluster.signal(node, "KILL");
                }
                tokio::time::sleep(CLUSTER_DOWN).await;
                // Together: a node waits for its peers' tables as it starts.
                futures_util::future::join_all((1..=3).map(|n| cluster.start_node(n))).await;
                return Instant::now();
            }
            Fault::MemoryAlarm | Fault::DiskAlarm => {
                let (raise, lift, _) = self.alarm().expect("an alarm");
                cluster.ctl(1, &raise).await;
                assert!(
                    alarm_is(cluster, true).await,
                    "the alarm was not raised by {raise:?}"
                );
                tokio::time::sleep(ALARM).await;
                cluster.ctl(1, &lift).await;
                let lifted = Instant::now();
                assert!(
                    alarm_is(cluster, false).await,
                    "the alarm was not lifted by {lift:?}"
                );
                return lifted;
            }
            Fault::KillClientNode | Fault::KillEverythingsNode => cluster.signal(1, "KILL"),
            Fault::PauseClientNode => {
                cluster.signal(1, "STOP");
                tokio::time::sleep(Duration::from_secs(6)).await;
                cluster.signal(1, "CONT");
            }
            Fault::CloseConnections => {
                for name in [&rig.client_name, &rig.server_name] {
                    let pid = connection_pid(cluster, name).await;
                    cluster
                        .ctl(2, &["close_connection", &pid, "fault matrix"])
                        .await;
                }
            }
            Fault::DeleteReplyQueue => {
                let pid = connection_pid(cluster, &rig.client_name).await;
                let queues = cluster
                    .ctl(2, &["list_queues", "name", "owner_pid", "-q"])
                    .await;
                let reply = queues
                    .lines()
                    .filter_map(|l| l.split_once('\t'))
                    .find(|(name, owner)| name.starts_with("reply_") && *owner == pid)
                    .map(|(name, _)| name.to_owned())
                    .unwrap_or_else(|| panic!("no reply queue owned by {pid} in {queues}"));
                cluster.ctl(2, &["delete_queue", &reply]).await;
            }
            Fault::DeleteTopicQueue => {
                cluster.ctl(2, &["delete_queue", &rig.topic]).await;
            }
            Fault::ServerClosedChannels => {
                let nobody = StorageClient::new(&rig.client_transport).topic("f-nobody-serves");
                let ctx = Context::new();
                let mut cut_short = 0;
                for n in 0..3000 {
                    match nobody.fanout().record(&ctx, format!("x{n}")).await {
                        Err(rpc_runtime::RpcError::Undeliverable { .. }) => {}
                        // In flight when the session is replaced.
                        Err(rpc_runtime::RpcError::Connection(_)) => cut_short += 1,
                        other => panic!("a fanout cast nobody can take: {other:?}"),
                    }
                }
                assert!(
                    cut_short <= 5,
                    "{cut_short} fanout casts failed with the connection"
                );
            }
            Fault::Poison => {
                let python =
                    rpc_tests::python::Python::find().expect("the Python of the interop tests");
                python
                    .publish_poison(
                        "127.0.0.1:5682",
                        &rig.exchange,
                        &format!("{}.s1", rig.topic),
                    )
                    .await;
            }
        }
        Instant::now()
    }

    /// What the case promises beyond the common checks: during an alarm,
    /// calls and casts fail only as blocked, naming the alarm, and neither
    /// side reconnects (`pids`: their connections before the fault).
    async fn check(
        self,
        report: &mut Report,
        rig: &Rig,
        cluster: &Cluster,
        pids: (String, String),
    ) {
        let Some((_, _, reason)) = self.alarm() else {
            return;
        };
        let kinds = report.calls_failed.keys().chain(report.casts_failed.keys());
        let others: Vec<&&str> = kinds.filter(|kind| **kind != "blocked").collect();
        if !others.is_empty() {
            report.problems.push(format!(
                "failures other than `blocked`: {:?}",
                report.errors
            ));
        }
        if let Some(text) = report.errors.get("blocked").filter(|t| !t.contains(reason)) {
            report
                .problems
                .push(format!("the error does not name the alarm: {text}"));
        }
        if rig.connection_pids(cluster).await != pids {
            report
                .problems
                .push("a connection was replaced during the alarm".to_owned());
        }
    }

    /// Puts the cluster back as it was.
    async fn repair(self, cluster: &Cluster) {
        match self {
            Fault::MemoryAlarm | Fault::DiskAlarm => {
                let (_, lift, _) = self.alarm().expect("an alarm");
                cluster.ctl(1, &lift).await;
            }
            Fault::KillClientNode | Fault::KillEverythingsNode => cluster.start_node(1).await,
            // A node paused near the net tick time may come back cut off
            // from its peers; a fresh start rejoins it cleanly.
            Fault::PauseClientNode => {
                cluster.signal(1, "KILL");
                cluster.start_node(1).await;
            }
            _ => {}
        }
    }
}

async fn run(fault: Fault, cluster: &Cluster) -> Report {
    let (client_order, server_order) = fault.orders();
    let rig = Rig::new(cluster, client_order, server_order, fault.heartbeat()).await;
    let pids = rig.connection_pids(cluster).await;
    let load = Load::start(&rig.client);
    let started = Instant::now();
    tokio::time::sleep(FAULT_AT).await;
    let began = Instant::now();
    let made = fault.make(cluster, &rig).await;
    tokio::time::sleep_until((started + RUN).max(Instant::now() + Duration::from_secs(12))).await;
    let (calls, casts) = load.stop().await;
    let deletes_queue = matches!(fault, Fault::DeleteTopicQueue);
    let mut report = Report::new(
        fault.name(),
        &rig,
        (&calls, &casts),
        (began, made),
        fault.recover_within(),
        deletes_queue,
    )
    .await;
    fault.check(&mut report, &rig, cluster, pids).await;
    // The same transport objects serve a new call and cast.
    let ctx = Context::new();
    if let Err(error) = rig.client.add(&ctx, 20, 22).await {
        report.problems.push(format!("a last call failed: {error}"));
    }
    if let Err(error) = rig.client.record(&ctx, "last".into()).await {
        report.problems.push(format!("a last cast failed: {error}"));
    }
    println!("{}: {report:?}", fault.name());
    fault.repair(cluster).await;
    rig.cleanup(cluster, 2).await;
    report
}

/// Waits (at most 30 s) until the cluster has a resource alarm (`raised`)
/// or none; false if it did not come to that.
async fn alarm_is(cluster: &Cluster, raised: bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let alarms = cluster
            .ctl(1, &["eval", "rabbit_alarm:get_alarms()."])
            .await;
        if (alarms.trim() != "[]") == raised {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fault_matrix() {
    // `RUST_LOG=rpc_runtime=info` shows what the transports did about each fault.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    let faults = [
        Fault::KillClientNode,
        Fault::KillEverythingsNode,
        Fault::PauseClientNode,
        Fault::CloseConnections,
        Fault::DeleteReplyQueue,
        Fault::DeleteTopicQueue,
        Fault::ServerClosedChannels,
        Fault::Poison,
        Fault::MemoryAlarm,
        Fault::DiskAlarm,
        Fault::KillCluster,
    ];
    // `RPC_FAULTS_ONLY=(a),(j)` runs the cases whose names start so.
    let only = std::env::var("RPC_FAULTS_ONLY").ok();
    let skip = |name: &str| {
        only.as_deref()
            .is_some_and(|only| !only.split(',').any(|o| name.starts_with(o)))
    };
    let mut reports = Vec::new();
    for fault in faults {
        if skip(fault.name()) {
            continue;
        }
        let Some(cluster) = Cluster::get().await else {
            return;
        };
        reports.push(run(fault, &cluster).await);
    }
    let mut outcomes = Vec::new();
    let policies = [
        (1, AckMode::OnReceipt),
        (4, AckMode::OnReceipt),
        (
            1,
            AckMode::AfterHandling {
                max_redeliveries: 3,
            },
        ),
        (
            4,
            AckMode::AfterHandling {
                max_redeliveries: 3,
            },
        ),
    ];
    for (concurrency, acks) in policies {
        let name = patience::case_name(concurrency, acks);
        if skip(&name) {
            continue;
        }
        let Some(cluster) = Cluster::get().await else {
            return;
        };
        let outcome = patience::consumer_timeout(&cluster, concurrency, acks).await;
        println!("{}: {outcome:?}", outcome.case);
        outcomes.push(outcome);
    }
    for case in ["(m)", "(n)", "(o)"] {
        if skip(case) {
            continue;
        }
        let Some(cluster) = Cluster::get().await else {
            return;
        };
        let outcome = match case {
            "(m)" => refusals::permissions(&cluster).await,
            "(n)" => refusals::oversized(&cluster).await,
            _ => dropped::dropped_transports(&cluster).await,
        };
        println!("{}: {outcome:?}", outcome.case);
        outcomes.push(outcome);
    }
    let table = format!(
        "{}\n{}",
        faults::table(&reports),
        faults::outcomes_table(&outcomes)
    );
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/faults");
    std::fs::create_dir_all(&dir).expect("target/faults");
    std::fs::write(dir.join("FAULTS.md"), &table).expect("write the table");
    println!("{table}");
    let problems: Vec<String> = reports
        .iter()
        .flat_map(|r| r.problems.iter().map(move |p| format!("{}: {p}", r.case)))
        .chain(
            outcomes
                .iter()
                .flat_map(|o| o.problems.iter().map(move |p| format!("{}: {p}", o.case))),
        )
        .collect();
    assert!(problems.is_empty(), "{problems:#?}");
}
