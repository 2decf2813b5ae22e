//! A cast the server refuses is counted in `rpc_server_casts_failed_total`
//! by error kind: its sender never hears of it, so the count (and the
//! WARN, see `amqp_processes.rs`) is how an operator does. One test per
//! binary: the recorder is the process's.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use rpc_runtime::wire::OutgoingRequest;
use rpc_runtime::{Context, Destination};
use rpc_tests::volume::Log;
use rpc_tests::{Env, Kind};

/// The failed casts counted since the last snapshot (a snapshot takes
/// every count), by `error` kind.
fn failed_casts(snapshotter: &Snapshotter) -> HashMap<String, u64> {
    let mut counted = HashMap::new();
    for (key, _, _, value) in snapshotter.snapshot().into_vec() {
        let key = key.key();
        if key.name() != "rpc_server_casts_failed_total" {
            continue;
        }
        let DebugValue::Counter(n) = value else {
            panic!("a counter, not {value:?}");
        };
        for label in key.labels().filter(|l| l.key() == "error") {
            *counted.entry(label.value().to_owned()).or_default() += n;
        }
    }
    counted
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_casts_are_counted_by_kind() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    recorder
        .install()
        .expect("the only recorder of this test binary");
    let env = Env::new(Kind::Memory)
        .await
        .expect("memory is always there");
    let log = Arc::new(Log::default());
    let _server = env.server("host-1", &log).await;
    let transport = env.transport().await;
    let format = env.speaks.format();
    let cast = |method: &str, body: Vec<u8>| {
        format.encode_request(OutgoingRequest {
            trace: None,
            method: method.to_owned().into(),
            version: "1.0",
            namespace: None,
            context: &Context::new(),
            options: &rpc_runtime::CallOptions::default(),
            body,
        })
    };
    let to_server = Destination::Server {
        topic: env.topic.clone(),
        server: "host-1".into(),
    };
    for message in [
        cast("delete_volumee", Vec::new()),
        cast("delete_volumee", Vec::new()),
        cast("delete_volume", vec![0xff; 3]),
    ] {
        transport
            .cast_raw(to_server.clone(), message, Duration::from_secs(10))
            .await
            .expect("sent");
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut counted = HashMap::<String, u64>::new();
    loop {
        for (kind, n) in failed_casts(&snapshotter) {
            *counted.entry(kind).or_default() += n;
        }
        let unknown = counted.get("unknown_method").copied().unwrap_or(0);
        let bad = counted.get("bad_request").copied().unwrap_or(0);
        if (unknown, bad) == (2, 1) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "counted {unknown} unknown-method and {bad} bad-request casts, not 2 and 1"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
