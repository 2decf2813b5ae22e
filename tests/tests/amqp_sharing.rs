//! Many servers on one Transport, as a process hosting a region's worth of
//! them runs: one connection, consuming channels shared by up to 100
//! consumers, no publishing channel opened before it is needed, every
//! server reached, and a server stopped on a shared channel gives back
//! what it had not taken although the channel stays open for the others.

use std::sync::Arc;
use std::time::Duration;

use amqprs::channel::QueueDeclareArguments;
use rpc_runtime::transport::amqp::AmqpConfig;
use rpc_runtime::{Context, Server, Transport};
use rpc_tests::cluster::eventually;
use rpc_tests::env::{amqp_url, rabbitmqctl, raw_connection};
use rpc_tests::volume::{Log, Recorder, VolumeManagerService};
use rpc_tests::{Env, Kind};

const WAIT: Duration = Duration::from_secs(30);

/// How many servers share the transport: 3 consumers each, so the 450
/// consumers need 5 channels of 99 (a seat is never split).
const SERVERS: usize = 150;

/// The transport's connections (name, channels), as the broker counts them.
fn connections(name: &str) -> Option<Vec<(String, u32)>> {
    let out = rabbitmqctl(&[
        "list_connections",
        "-q",
        "--no-table-headers",
        "client_properties",
        "channels",
    ])?;
    let rows = out.lines().filter_map(|line| {
        let (conn, channels) = line.rsplit_once('\t')?;
        Some((conn.to_owned(), channels.trim().parse().ok()?))
    });
    Some(rows.filter(|(conn, _)| conn.contains(name)).collect())
}

async fn sharing_transport(env: &Env, name: &str) -> Transport {
    sharing_transport_at(env, name, &amqp_url()).await
}

async fn sharing_transport_at(env: &Env, name: &str, url: &str) -> Transport {
    AmqpConfig::from_url(url)
        .expect("url")
        .control_exchange(&env.exchange)
        .connection_name(name)
        .connect()
        .await
        .expect("connect")
}

async fn serve(env: &Env, transport: &Transport, host: &str, log: &Arc<Log>) -> Server {
    env.track_server(host);
    Server::builder(transport, host)
        .serve_on(
            &env.topic,
            VolumeManagerService::new(Recorder::new(host, log)),
        )
        .start()
        .await
        .expect("start a server")
}

/// On `transport`: a server on `other` that keeps the shared channel open,
/// and a server of the test's topic taking one request at a time.
async fn neighbour_and_slow(
    env: &Env,
    transport: &Transport,
    other: &str,
    log: &Arc<Log>,
) -> (Server, Server) {
    env.track_server("neighbour");
    let neighbour = Server::builder(transport, "neighbour")
        .serve_on(
            other,
            VolumeManagerService::new(Recorder::new("neighbour", log)),
        )
        .start()
        .await
        .expect("start the neighbour");
    env.track_server("slow");
    let slow = Server::builder(transport, "slow")
        .concurrency(1)
        .serve_on(
            &env.topic,
            VolumeManagerService::new(Recorder::new("slow", log)),
        )
        .start()
        .await
        .expect("start the slow server");
    (neighbour, slow)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn servers_sharing_a_transport_share_one_connection_and_few_channels() {
    let Some(env) = Env::new(Kind::Amqp).await else {
        return;
    };
    let name = format!("sharing-{}", env.topic);
    let transport = sharing_transport(&env, &name).await;
    let log = Arc::new(Log::default());
    let mut servers = vec![serve(&env, &transport, "host-0", &log).await];
    let Some(counted) = connections(&name) else {
        return;
    };
    // The admin channel and one consuming channel: a transport that only
    // serves opens no publishing channel.
    assert_eq!(counted.iter().map(|(_, c)| c).collect::<Vec<_>>(), vec![&2]);

    for n in 1..SERVERS {
        servers.push(serve(&env, &transport, &format!("host-{n}"), &log).await);
    }
    let counted = connections(&name).expect("rabbitmqctl");
    assert_eq!(counted.len(), 1, "one connection: {counted:?}");
    // 5 consuming channels, and 1 to 4 admin channels (a declaration that
    // finds the first busy, with the queue checks, takes another).
    let consuming = SERVERS.div_ceil(33) as u32;
    let channels = counted[0].1;
    assert!(
        (consuming + 1..=consuming + 4).contains(&channels),
        "{counted:?}"
    );

    // Every server is reached, through the shared channels.
    let caller = env.transport().await;
    let client = env.client(&caller);
    let ctx = Context::new();
    client
        .fanout()
        .delete_volume(&ctx, 7)
        .await
        .expect("fanout");
    let heard = || {
        log.events()
            .iter()
            .filter(|(_, event)| format!("{event:?}").contains('7'))
            .count()
    };
    assert!(
        eventually(WAIT, || heard() == SERVERS).await,
        "{} of {SERVERS} heard the fanout",
        heard()
    );
    let last = format!("host-{}", SERVERS - 1);
    let answer = client.to_server(&last).whoami(&ctx).await.expect("call");
    assert_eq!(answer, last);

    // A clean stop leaves no server queue behind.
    for server in servers {
        assert!(server.shutdown().await);
    }
    let queues =
        rabbitmqctl(&["list_queues", "-q", "--no-table-headers", "name"]).expect("rabbitmqctl");
    let prefix = format!("{}.", env.topic);
    let left: Vec<&str> = queues.lines().filter(|q| q.starts_with(&prefix)).collect();
    assert!(left.is_empty(), "queues left: {left:?}");
    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_stopped_on_a_shared_channel_gives_back_what_it_had_not_taken() {
    let Some(env) = Env::new(Kind::Amqp).await else {
        return;
    };
    let transport = sharing_transport(&env, &format!("giveback-{}", env.topic)).await;
    let log = Arc::new(Log::default());
    // A neighbour keeps the shared channel open after the first stops.
    let other = env.extra_topic("other");
    let (_neighbour, slow) = neighbour_and_slow(&env, &transport, &other, &log).await;

    // Ten casts: the first runs (and blocks, acked on receipt); the next
    // waits in the server's prefetch of 1, unacked; eight stay ready.
    let client = env.client(&env.transport().await);
    let ctx = Context::new();
    for id in 0..10 {
        client.slow_cast(&ctx, id, 60_000).await.expect("cast");
    }
    let connection = raw_connection().await.expect("connect");
    let channel = connection.open_channel(None).await.expect("channel");
    let ready = || {
        let args = QueueDeclareArguments::new(&env.topic)
            .passive(true)
            .finish();
        let channel = channel.clone();
        async move {
            channel
                .queue_declare(args)
                .await
                .ok()
                .flatten()
                .map(|(_, m, _)| m)
        }
    };
    assert!(
        rpc_tests::cluster::eventually_async(WAIT, || async { ready().await == Some(8) }).await,
        "the server took two casts: {:?} ready",
        ready().await
    );
    assert!(
        !slow.shutdown_within(Duration::from_millis(200)).await,
        "the first cast still runs"
    );
    // The nine not taken are back in the queue, ready for another server.
    assert!(
        rpc_tests::cluster::eventually_async(WAIT, || async { ready().await == Some(9) }).await,
        "ready after the stop: {:?}",
        ready().await
    );
    // The shared channel still serves the neighbour.
    let neighbour = rpc_tests::volume::VolumeManagerClient::new(&transport)
        .topic(&other)
        .timeout(Duration::from_secs(10));
    assert_eq!(neighbour.whoami(&ctx).await.expect("call"), "neighbour");
    let _ = channel.close().await;
    let _ = connection.close().await;
    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_stopped_on_a_stream_fanout_lets_go_without_losing_the_connection() {
    let Some(env) = Env::new(Kind::Amqp).await else {
        return;
    };
    let name = format!("stream-{}", env.topic);
    let url = format!("{}?rabbit_stream_fanout=true", amqp_url());
    let transport = sharing_transport_at(&env, &name, &url).await;
    let log = Arc::new(Log::default());
    let other = env.extra_topic("other");
    let (_neighbour, slow) = neighbour_and_slow(&env, &transport, &other, &log).await;
    let connected = || {
        let out = rabbitmqctl(&[
            "list_connections",
            "-q",
            "--no-table-headers",
            "client_properties",
            "connected_at",
        ])
        .unwrap_or_default();
        out.lines()
            .filter(|l| l.contains(&name))
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    let before = connected();
    assert_eq!(before.len(), 1, "{before:?}");

    // Through the stream: the first runs, the second waits in the prefetch.
    let client = env.client(&env.transport().await);
    let ctx = Context::new();
    for id in 0..2 {
        client
            .fanout()
            .slow_cast(&ctx, id, 60_000)
            .await
            .expect("fanout");
    }
    let started = || {
        log.events()
            .iter()
            .any(|(_, e)| format!("{e:?}").contains("CastStarted"))
    };
    assert!(eventually(WAIT, started).await, "the first fanout runs");
    assert!(!slow.shutdown_within(Duration::from_millis(200)).await);

    // The one not taken was acked (a stream refuses nacks by closing the
    // connection): the connection is the same, the neighbour answers.
    let neighbour = rpc_tests::volume::VolumeManagerClient::new(&transport)
        .topic(&other)
        .timeout(Duration::from_secs(10));
    assert_eq!(neighbour.whoami(&ctx).await.expect("call"), "neighbour");
    assert_eq!(connected(), before, "the transport reconnected");
    let _ = rabbitmqctl(&["delete_queue", &format!("{}_fanout", env.topic)]);
    env.cleanup().await;
}
