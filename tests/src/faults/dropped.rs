//! Case (o) of the fault matrix: transports dropped without `close()`.
//! A program that creates a transport per task and forgets to close it
//! must not leak connections, channels, queues or sockets: dropping the
//! last handle closes it in the background.

use std::sync::Arc;
use std::time::Duration;

use rpc_runtime::{AmqpConfig, Context, Server};
use tokio::time::Instant;

use super::outcome::Outcome;
use crate::cluster::{Cluster, eventually_async};
use crate::oslo::{RustStorage, StorageClient, StorageService};

/// How many transports are created and dropped.
const CYCLES: usize = 500;

/// Every this many cycles, the dropped transport also served.
const SERVING_EVERY: usize = 10;

/// Case (o).
pub async fn dropped_transports(cluster: &Cluster) -> Outcome {
    let mut outcome = Outcome::new(format!(
        "(o) {CYCLES} transports created and dropped without close()"
    ));
    let id = uuid::Uuid::new_v4().simple().to_string();
    let (exchange, topic) = (format!("rpc-drop-{}", &id[..8]), format!("o-{}", &id[..8]));
    let name = format!("o-{}", &id[..8]);
    let connect = || {
        AmqpConfig::from_url(&cluster.url([1, 2, 3]))
            .expect("URL")
            .control_exchange(&exchange)
            .connection_name(name.clone())
            .connect()
    };
    // A server that lives through the case, so that each cycle calls.
    let serving = connect().await.expect("the server connects");
    let server = Server::builder(&serving, "keeper")
        .serve_on(
            &topic,
            StorageService::from_arc(Arc::new(RustStorage::new("keeper"))),
        )
        .start()
        .await
        .expect("start the server");
    let before = Usage::now(cluster, &name).await;
    let started = Instant::now();
    let mut failed = Vec::new();
    for cycle in 0..CYCLES {
        let transport = match connect().await {
            Ok(transport) => transport,
            Err(error) => {
                failed.push(format!("cycle {cycle}: connect: {error}"));
                continue;
            }
        };
        let _extra = match cycle % SERVING_EVERY {
            0 => Server::builder(&transport, format!("s{cycle}"))
                .serve_on(&topic, StorageService::new(RustStorage::new("extra")))
                .start()
                .await
                .ok(),
            _ => None,
        };
        let client = StorageClient::new(&transport).topic(&topic);
        if let Err(error) = client.add(&Context::new(), 1, 2).await {
            failed.push(format!("cycle {cycle}: call: {error}"));
        }
    }
    let cycles_took = started.elapsed();
    let back = eventually_async(Duration::from_secs(30), || async {
        Usage::now(cluster, &name).await == before
    })
    .await;
    let after = Usage::now(cluster, &name).await;
    outcome.expect(failed.is_empty(), || {
        format!("{} cycles failed: {failed:?}", failed.len())
    });
    outcome.expect(back, || {
        format!("not back to where it was: before {before:?}, after {after:?}")
    });
    outcome.saw = format!(
        "{CYCLES} cycles in {:.0} s (a call each, a server every {SERVING_EVERY}th); then connections {} -> {}, queues {} -> {}, file descriptors {} -> {}",
        cycles_took.as_secs_f64(),
        before.connections,
        after.connections,
        before.queues,
        after.queues,
        before.fds,
        after.fds
    );
    server.shutdown().await;
    serving.close().await;
    cluster.ctl(1, &["delete_queue", &topic]).await;
    outcome
}

/// What the process and the broker hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Usage {
    /// The broker's connections named `name`.
    connections: usize,
    /// The broker's queues (all of the vhost).
    queues: usize,
    /// This process's open file descriptors.
    fds: usize,
}

impl Usage {
    async fn now(cluster: &Cluster, name: &str) -> Self {
        let listed = cluster
            .ctl(1, &["list_connections", "client_properties", "-q"])
            .await;
        let quoted = format!("\"{name}\"");
        let connections = listed.lines().filter(|l| l.contains(&quoted)).count();
        let queues = cluster
            .ctl(1, &["list_queues", "name", "-q"])
            .await
            .lines()
            .count();
        let fds = std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count());
        Self {
            connections,
            queues,
            fds,
        }
    }
}
