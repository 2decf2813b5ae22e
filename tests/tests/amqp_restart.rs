//! The broker restarts under load (`rabbitmqctl stop_app`, ~3 s, `start_app`):
//! clients and servers reconnect on their own, calls in flight fail with a
//! clear error instead of hanging, and every cast that returned `Ok` is
//! received (durable queues, persistent casts, acks after handling).
//!
//! It stops the machine's broker, so it is alone in its test binary (cargo
//! runs test binaries one after another), and it runs only in CI or when
//! `RPC_TEST_RESTART_BROKER=1` says the local broker may be restarted.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rpc_runtime::{AckMode, Context, RpcError};
use rpc_tests::volume::{Event, Log, Recorder, VolumeManagerService};
use rpc_tests::{Env, Kind};

fn rabbitmqctl(args: &[&str]) -> bool {
    rpc_tests::env::rabbitmqctl(args).is_some()
}

#[derive(Debug, Default)]
struct Tally {
    casts_ok: Vec<u64>,
    casts_failed: usize,
    calls_ok: usize,
    calls_failed: BTreeMap<String, usize>,
    first_call_ok_after_restart: Option<Instant>,
}

fn record(
    tally: &mut Tally,
    id: u64,
    cast: Result<(), RpcError>,
    call: Result<String, RpcError>,
    restarted: Option<Instant>,
) {
    match cast {
        Ok(()) => tally.casts_ok.push(id),
        Err(_) => tally.casts_failed += 1,
    }
    match call {
        Ok(_) => {
            tally.calls_ok += 1;
            if restarted.is_some() && tally.first_call_ok_after_restart.is_none() {
                tally.first_call_ok_after_restart = Some(Instant::now());
            }
        }
        Err(error) => {
            let kind = match error {
                RpcError::Connection(_) => "connection",
                RpcError::Timeout { .. } => "timeout",
                RpcError::Undeliverable { .. } => "undeliverable",
                _ => "other",
            };
            *tally.calls_failed.entry(kind.to_owned()).or_default() += 1;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_and_servers_ride_through_a_broker_restart() {
    let allowed =
        rpc_tests::env::in_ci() || std::env::var("RPC_TEST_RESTART_BROKER").is_ok_and(|v| v == "1");
    if !allowed {
        rpc_tests::env::skipped("restarts the broker; set RPC_TEST_RESTART_BROKER=1 to allow it");
        return;
    }
    let Some(env) = Env::new(Kind::Amqp).await else {
        return;
    };
    if !rabbitmqctl(&["await_startup"]) {
        return;
    }
    let log = Arc::new(Log::default());
    let _server = env
        .builder("host-1")
        .await
        .durable_queues(true)
        .ack_mode(AckMode::AfterHandling {
            max_redeliveries: 5,
        })
        .serve_on(
            &env.topic,
            VolumeManagerService::new(Recorder::new("host-1", &log)),
        )
        .start()
        .await
        .expect("start");
    let client = env
        .client(&env.transport().await)
        .timeout(Duration::from_secs(2));

    let tally = Arc::new(Mutex::new(Tally::default()));
    let restarted = Arc::new(Mutex::new(None::<Instant>));
    let running = Arc::new(AtomicBool::new(true));
    let load = {
        let (tally, restarted, running) = (
            Arc::clone(&tally),
            Arc::clone(&restarted),
            Arc::clone(&running),
        );
        tokio::spawn(async move {
            let mut id = 0u64;
            while running.load(Ordering::Relaxed) {
                id += 1;
                let cast = client.delete_volume(&Context::new(), id).await;
                let call = client.whoami(&Context::new()).await;
                let back = *restarted.lock().expect("lock");
                record(&mut tally.lock().expect("lock"), id, cast, call, back);
                // Pacing, so that failing fast during the outage does not spin.
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
    };
    let casts_ok = || tally.lock().expect("lock").casts_ok.len();
    let warm = async {
        while casts_ok() < 50 {
            tokio::task::yield_now().await;
        }
    };
    tokio::time::timeout(Duration::from_secs(30), warm)
        .await
        .expect("warm up");

    assert!(rabbitmqctl(&["stop_app"]), "stop_app");
    let stopped = Instant::now();
    tokio::time::sleep(Duration::from_secs(3)).await; // the outage itself
    assert!(rabbitmqctl(&["start_app"]), "start_app");
    assert!(rabbitmqctl(&["await_startup"]), "await_startup");
    let back = Instant::now();
    *restarted.lock().expect("lock") = Some(back);

    let recovered = async {
        loop {
            if let Some(at) = tally.lock().expect("lock").first_call_ok_after_restart {
                return at;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    let recovered_at = tokio::time::timeout(Duration::from_secs(60), recovered)
        .await
        .expect("calls succeed again after the restart");
    let after = casts_ok();
    let more = async {
        while casts_ok() < after + 50 {
            tokio::task::yield_now().await;
        }
    };
    tokio::time::timeout(Duration::from_secs(30), more)
        .await
        .expect("casts flow again");
    running.store(false, Ordering::Relaxed);
    load.await.expect("load task");

    // Every cast that returned Ok arrives (at least once).
    let ok: Vec<u64> = tally.lock().expect("lock").casts_ok.clone();
    let received = |events: &[(String, Event)]| {
        let mut seen = BTreeMap::<u64, usize>::new();
        for (_, event) in events {
            if let Event::Deleted { id, .. } = event {
                *seen.entry(*id).or_default() += 1;
            }
        }
        seen
    };
    log.wait_for(Duration::from_secs(60), |events| {
        let seen = received(events);
        ok.iter().all(|id| seen.contains_key(id))
    })
    .await;
    let seen = received(&log.events());
    let duplicates: usize = seen.values().map(|n| n - 1).sum();
    let tally = std::mem::take(&mut *tally.lock().expect("lock"));
    println!(
        "broker restart: outage {:.1} s; casts sent {}, ok {}, failed {}, received {} (duplicates {}); calls ok {}, failed {:?}; first good call {:.2} s after the broker was back",
        (back - stopped).as_secs_f64(),
        tally.casts_ok.len() + tally.casts_failed,
        tally.casts_ok.len(),
        tally.casts_failed,
        seen.len(),
        duplicates,
        tally.calls_ok,
        tally.calls_failed,
        (recovered_at - back).as_secs_f64(),
    );
    env.cleanup().await;
}
