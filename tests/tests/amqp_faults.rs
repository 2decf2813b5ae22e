//! Failures on a real RabbitMQ: a server dying mid-cast, a poison cast, a
//! broker list whose first broker is down.

use std::sync::Arc;
use std::time::Duration;

use rpc_runtime::{AckMode, AmqpConfig, Context, Server};
use rpc_tests::env::amqp_url;
use rpc_tests::volume::{Event, Log, Recorder, VolumeManagerService};
use rpc_tests::{Env, Kind};

const WAIT: Duration = Duration::from_secs(20);

/// A server acking casts after handling, one at a time, on its own connection.
async fn fragile_server(
    env: &Env,
    name: &str,
    log: &Arc<Log>,
    max_redeliveries: u32,
) -> (Server, rpc_runtime::Transport) {
    let transport = env.transport().await;
    let server = env
        .builder(name)
        .await
        .concurrency(1)
        .ack_mode(AckMode::AfterHandling { max_redeliveries })
        .serve_on(
            &env.topic,
            VolumeManagerService::new(Recorder::new(name, log)),
        )
        .start()
        .await
        .expect("start");
    // The builder made its own transport; `transport` is only closed to kill it.
    drop(transport);
    (server, env.last_transport())
}

fn started(events: &[(String, Event)], id: u64) -> usize {
    events
        .iter()
        .filter(|(_, e)| *e == Event::CastStarted { id })
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cast_whose_server_dies_is_redelivered_to_another() {
    let Some(env) = Env::new(Kind::Amqp).await else {
        return;
    };
    let log = Arc::new(Log::default());
    let (first, first_connection) = fragile_server(&env, "host-1", &log, 3).await;
    let client = env.client(&env.transport().await);
    client
        .slow_cast(&Context::new(), 1, 60_000)
        .await
        .expect("cast");
    log.wait_for(WAIT, |events| started(events, 1) == 1).await;
    let (_second, _) = fragile_server(&env, "host-2", &log, 3).await;
    // host-1 dies mid-cast: its connection goes, the unacked cast goes back.
    first_connection.close().await;
    drop(first);
    log.wait_for(WAIT, |events| {
        events
            .iter()
            .any(|(host, e)| host == "host-2" && *e == Event::CastStarted { id: 1 })
    })
    .await;
    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poison_cast_is_dropped_after_its_redeliveries() {
    let Some(env) = Env::new(Kind::Amqp).await else {
        return;
    };
    let log = Arc::new(Log::default());
    let client = env.client(&env.transport().await);
    let (mut server, mut connection) = fragile_server(&env, "host-1", &log, 2).await;
    client
        .slow_cast(&Context::new(), 7, 60_000)
        .await
        .expect("cast");
    // It "kills" every server that takes it: the first delivery and two
    // redeliveries, then it must be dropped.
    for attempt in 1..=3 {
        log.wait_for(WAIT, |events| started(events, 7) == attempt)
            .await;
        connection.close().await;
        drop(server);
        (server, connection) = fragile_server(&env, "host-1", &log, 2).await;
    }
    // Behind it in the queue: once this ran, the poison cast was dealt with.
    client.slow_cast(&Context::new(), 8, 0).await.expect("cast");
    log.wait_for(WAIT, |events| {
        events.iter().any(|(_, e)| *e == Event::CastDone { id: 8 })
    })
    .await;
    assert_eq!(started(&log.events(), 7), 3, "{:?}", log.events());
    drop(server);
    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_first_broker_is_skipped() {
    let Some(env) = Env::new(Kind::Amqp).await else {
        return;
    };
    let log = Arc::new(Log::default());
    let _server = env.server("host-1", &log).await;
    let real = AmqpConfig::from_url(&amqp_url()).expect("url");
    // Port 1 on loopback: nothing listens there.
    let url = format!(
        "amqp://{}:{}@127.0.0.1:1,{}:{}/%2f",
        real.username(),
        real.password().expose(),
        real.host(),
        real.port()
    );
    let transport = AmqpConfig::from_url(&url)
        .expect("url")
        .control_exchange(&env.exchange)
        .connect()
        .await
        .expect("the second broker answers");
    let client = env.client(&transport);
    assert_eq!(
        client.whoami(&Context::new()).await.expect("call"),
        "host-1"
    );
    transport.close().await;
    env.cleanup().await;
}
