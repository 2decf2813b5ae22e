//! A 3-node RabbitMQ cluster (`tests/cluster/cluster.sh`, started by
//! `.ci/run`): the node a client is connected to is killed or paused
//! mid-stream, a broker outage, a queue whose node is down, and TLS. The
//! tests take turns: they kill, pause and stop nodes.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use amqprs::channel::{ExchangeDeleteArguments, QueueDeleteArguments};
use amqprs::connection::{Connection, OpenConnectionArguments};
use rpc_runtime::{AmqpConfig, CancellationToken, Context, RpcError, Server, Transport};
use rpc_tests::cluster::Cluster;
use rpc_tests::oslo::{RustStorage, Storage, StorageClient, StorageService};
use tokio::time::Instant;

/// An exchange and topic of one test.
struct Names {
    exchange: String,
    topic: String,
}

impl Names {
    fn new() -> Self {
        let id = uuid::Uuid::new_v4().simple().to_string();
        Self {
            exchange: format!("rpc-test-{}", &id[..12]),
            topic: format!("t-{}", &id[..12]),
        }
    }

    async fn transport(&self, url: &str, heartbeat: u16) -> Transport {
        AmqpConfig::from_url(url)
            .expect("URL")
            .control_exchange(&self.exchange)
            .with_heartbeat(heartbeat)
            .connection_timeout(Duration::from_secs(3))
            .connect()
            .await
            .expect("connect")
    }

    /// A server of `storage` on quorum queues, through `url`.
    async fn server(&self, url: &str, storage: &Arc<RustStorage>) -> Server {
        Server::builder(&self.transport(url, 60).await, "s1")
            .quorum_queues(Some(5))
            .serve_on(&self.topic, StorageService::from_arc(Arc::clone(storage)))
            .start()
            .await
            .expect("start the server")
    }

    /// Deletes what the test declared, through node `node`.
    async fn cleanup(&self, node: u8) {
        let args =
            OpenConnectionArguments::new("127.0.0.1", 5680 + u16::from(node), "guest", "guest");
        let Ok(connection) = Connection::open(&args).await else {
            return;
        };
        if let Ok(channel) = connection.open_channel(None).await {
            for queue in [self.topic.clone(), format!("{}.s1", self.topic)] {
                let _ = channel
                    .queue_delete(QueueDeleteArguments::new(&queue))
                    .await;
            }
            let _ = channel
                .exchange_delete(ExchangeDeleteArguments::new(&format!(
                    "{}_fanout",
                    self.topic
                )))
                .await;
            let _ = channel
                .exchange_delete(ExchangeDeleteArguments::new(&self.exchange))
                .await;
        }
        let _ = connection.close().await;
    }
}

/// A storage server on quorum queues connected to node 2 first, and a
/// client connected to node 1 first (the node the tests kill or pause).
struct Scene {
    names: Names,
    storage: Arc<RustStorage>,
    _server: Server,
    client: StorageClient,
}

impl Scene {
    async fn new(cluster: &Cluster, heartbeat: u16, timeout: Duration) -> Self {
        let names = Names::new();
        let storage = Arc::new(RustStorage::new("s1"));
        let server = names.server(&cluster.url([2, 3, 1]), &storage).await;
        let transport = names.transport(&cluster.url([1, 2, 3]), heartbeat).await;
        let client = StorageClient::new(&transport)
            .topic(&names.topic)
            .timeout(timeout);
        Self {
            names,
            storage,
            _server: server,
            client,
        }
    }
}

/// What a stream of casts and calls saw.
#[derive(Debug, Default)]
struct Stream {
    confirmed: Vec<String>,
    failed_casts: usize,
    answered: Vec<Instant>,
    failed_calls: usize,
}

/// Casts `record` and calls `add` in turn until `stop`.
fn stream(client: StorageClient, stop: CancellationToken) -> Arc<Mutex<Stream>> {
    let seen = Arc::new(Mutex::new(Stream::default()));
    let out = Arc::clone(&seen);
    tokio::spawn(async move {
        let ctx = Context::new();
        let mut n = 0i64;
        while !stop.is_cancelled() {
            let note = format!("c{n}");
            let cast = client.record(&ctx, note.clone()).await;
            let call = client.add(&ctx, n, 1).await;
            {
                let mut seen = out.lock().expect("lock");
                match cast {
                    Ok(()) => seen.confirmed.push(note),
                    Err(_) => seen.failed_casts += 1,
                }
                match call {
                    Ok(sum) => {
                        assert_eq!(sum, n + 1);
                        seen.answered.push(Instant::now());
                    }
                    Err(_) => seen.failed_calls += 1,
                }
            }
            n += 1;
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    });
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_clients_node_loses_no_confirmed_cast_and_calls_resume() {
    let Some(cluster) = Cluster::get().await else {
        return;
    };
    let scene = Scene::new(&cluster, 60, Duration::from_secs(5)).await;
    let stop = CancellationToken::new();
    let seen = stream(scene.client.clone(), stop.clone());
    tokio::time::sleep(Duration::from_secs(2)).await;
    let before = seen.lock().expect("lock").answered.len();
    let killed = Instant::now();
    cluster.signal(1, "KILL");
    // Run on until 50 calls were answered after the kill (or 30 s passed).
    let resumed = rpc_tests::cluster::eventually(Duration::from_secs(30), || {
        let seen = seen.lock().expect("lock");
        seen.answered.iter().filter(|t| **t > killed).count() >= 50
    })
    .await;
    stop.cancel();
    let seen = std::mem::take(&mut *seen.lock().expect("lock"));
    assert!(
        resumed,
        "calls did not resume after the node died: {seen:?}"
    );
    let first_after = seen
        .answered
        .iter()
        .find(|t| **t > killed)
        .expect("an answer after the kill");
    let gap = first_after.duration_since(killed);
    // Every confirmed cast reaches the server.
    let deadline = Instant::now() + Duration::from_secs(30);
    let missing = loop {
        let notes = scene.storage.notes(&Context::new()).await;
        let missing: Vec<&String> = seen
            .confirmed
            .iter()
            .filter(|c| !notes.contains(c))
            .collect();
        if missing.is_empty() || Instant::now() > deadline {
            break missing.len();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    println!(
        "node killed: {} casts confirmed, {} refused; {} calls answered ({before} before the kill), {} failed; calls resumed {gap:?} after the kill; {missing} confirmed casts missing",
        seen.confirmed.len(),
        seen.failed_casts,
        seen.answered.len(),
        seen.failed_calls,
    );
    assert_eq!(missing, 0, "confirmed casts were lost");
    assert!(
        gap < Duration::from_secs(10),
        "calls resumed only after {gap:?}"
    );
    scene.names.cleanup(2).await;
    cluster.start_node(1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_node_is_noticed_by_heartbeats_and_left() {
    let Some(cluster) = Cluster::get().await else {
        return;
    };
    // 2 s heartbeats: a silent broker is given up after two missed ones.
    let scene = Scene::new(&cluster, 2, Duration::from_secs(60)).await;
    let client = &scene.client;
    let ctx = Context::new();
    assert_eq!(client.add(&ctx, 1, 1).await, Ok(2));
    // A long call is in flight when the client's node stops answering
    // (its TCP connection stays open: only heartbeats can tell).
    let long = {
        let client = client.clone();
        tokio::spawn(async move { client.slow(&Context::new(), 30.0).await })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    let paused = Instant::now();
    cluster.signal(1, "STOP");
    let outcome = long.await.expect("the call's task");
    let noticed = paused.elapsed();
    assert!(
        matches!(outcome, Err(RpcError::Connection(_))),
        "the call should fail with the connection: {outcome:?}"
    );
    // Then the client works through another node.
    let deadline = Instant::now() + Duration::from_secs(60);
    let recovered = loop {
        if client.add(&ctx, 2, 2).await == Ok(4) {
            break paused.elapsed();
        }
        assert!(
            Instant::now() < deadline,
            "no call got through after the pause"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    println!(
        "node paused: the client gave up on it after {noticed:?} (heartbeat 2 s), calls went through another node after {recovered:?}"
    );
    assert!(
        noticed < Duration::from_secs(8),
        "two missed 2 s heartbeats should take ~4-6 s, took {noticed:?}"
    );
    // Paused longer than the cluster's net tick time, the node is cut off
    // from its peers; a fresh start rejoins it cleanly.
    cluster.signal(1, "KILL");
    cluster.start_node(1).await;
    scene.names.cleanup(2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_connects_with_the_right_ca_and_refuses_a_wrong_one() {
    let Some(cluster) = Cluster::get().await else {
        return;
    };
    let scene = Scene::new(&cluster, 60, Duration::from_secs(10)).await;
    let names = &scene.names;
    let ctx = Context::new();
    let with_client_cert = format!(
        "{}&certfile={}&keyfile={}",
        cluster.tls_url(1),
        cluster.tls_file("client.pem").display(),
        cluster.tls_file("client.key").display()
    );
    for url in [cluster.tls_url(1), with_client_cert] {
        let transport = names.transport(&url, 60).await;
        let client = StorageClient::new(&transport).topic(&names.topic);
        assert_eq!(client.add(&ctx, 20, 22).await, Ok(42), "over {url}");
        transport.close().await;
    }
    let wrong_ca = cluster.tls_url(1).replace("ca.pem", "other-ca.pem");
    let refused = AmqpConfig::from_url(&wrong_ca)
        .expect("URL")
        .control_exchange(&names.exchange)
        .connect()
        .await;
    match refused {
        Err(RpcError::Connection(message)) => {
            println!("TLS with the wrong CA: {message}");
            assert!(message.contains("certificate"), "{message}");
        }
        other => panic!("a broker signed by another CA must be refused: {other:?}"),
    }
    names.cleanup(2).await;
}

/// A call made while the client's only broker is down waits for the
/// reconnect (as long as its timeout allows) and succeeds; a transport told
/// to fail fast refuses it at once, as does one client told so on the
/// patient transport (a per-call option).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_rides_out_a_broker_outage_unless_told_to_fail_fast() {
    let Some(cluster) = Cluster::get().await else {
        return;
    };
    let names = Names::new();
    let storage = Arc::new(RustStorage::new("s1"));
    let _server = names.server(&cluster.url([2, 1, 3]), &storage).await;
    // The client knows node 3 only.
    let transport = names
        .transport("amqp://guest:guest@127.0.0.1:5683/%2f", 60)
        .await;
    let timeout = Duration::from_secs(10);
    let client = StorageClient::new(&transport)
        .topic(&names.topic)
        .timeout(timeout);
    let impatient = StorageClient::new(&transport.with_fail_fast(true))
        .topic(&names.topic)
        .timeout(timeout);
    let per_call = client.with_options(|o| o.fail_fast(true));
    let ctx = Context::new();
    assert_eq!(client.add(&ctx, 1, 1).await, Ok(2));
    cluster.ctl(3, &["stop_app"]).await;
    let down = Instant::now();
    let back = {
        let script_cluster = &cluster;
        async move {
            tokio::time::sleep(Duration::from_secs(1)).await;
            script_cluster.ctl(3, &["start_app"]).await;
            Instant::now()
        }
    };
    let call = async {
        let started = Instant::now();
        (client.add(&ctx, 2, 2).await, started.elapsed())
    };
    let refused = async {
        let started = Instant::now();
        (impatient.add(&ctx, 3, 3).await, started.elapsed())
    };
    let refused_per_call = async {
        let started = Instant::now();
        (per_call.add(&ctx, 4, 4).await, started.elapsed())
    };
    let (back, (answer, took), (refusal, refused_after), (per_call_refusal, per_call_after)) =
        tokio::join!(back, call, refused, refused_per_call);
    println!(
        "broker down for {:?}: the call waited {took:?}; fail-fast refused after {refused_after:?}: {refusal:?}",
        back.duration_since(down)
    );
    assert_eq!(answer, Ok(4), "the call made during the outage");
    assert!(
        matches!(refusal, Err(RpcError::Connection(_))),
        "{refusal:?}"
    );
    assert!(refused_after < Duration::from_secs(1), "{refused_after:?}");
    assert!(
        matches!(per_call_refusal, Err(RpcError::Connection(_))),
        "{per_call_refusal:?}"
    );
    assert!(
        per_call_after < Duration::from_secs(1),
        "{per_call_after:?}"
    );
    names.cleanup(2).await;
}

/// A call to a server whose durable queue lives on a node that is down is
/// told so, not that nobody listens there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queue_on_a_stopped_node_is_unavailable_not_unheard_of() {
    let Some(cluster) = Cluster::get().await else {
        return;
    };
    let names = Names::new();
    let storage = Arc::new(RustStorage::new("s1"));
    // A server on node 3 only, with durable classic queues (they live there).
    let server_transport = names
        .transport("amqp://guest:guest@127.0.0.1:5683/%2f", 60)
        .await;
    let _server = Server::builder(&server_transport, "s1")
        .durable_queues(true)
        .serve_on(&names.topic, StorageService::from_arc(Arc::clone(&storage)))
        .start()
        .await
        .expect("start the server");
    let transport = names.transport(&cluster.url([1, 2, 3]), 60).await;
    let client = StorageClient::new(&transport)
        .topic(&names.topic)
        .timeout(Duration::from_secs(5));
    let ctx = Context::new();
    assert_eq!(client.to_server("s1").add(&ctx, 1, 1).await, Ok(2));
    cluster.ctl(3, &["stop_app"]).await;
    let outcome = client.to_server("s1").add(&ctx, 2, 2).await;
    cluster.ctl(3, &["start_app"]).await;
    match outcome {
        Err(error @ RpcError::Unavailable { .. }) => {
            println!("a queue on a stopped node: {error}");
            assert!(
                error.to_string().contains(&format!("{}.s1", names.topic)),
                "{error}"
            );
        }
        other => panic!("expected Unavailable, got {other:?}"),
    }
    // Nobody at all is still "nobody listens".
    assert!(matches!(
        client.to_server("s9").add(&ctx, 3, 3).await,
        Err(RpcError::Undeliverable { .. })
    ));
    for queue in [names.topic.clone(), format!("{}.s1", names.topic)] {
        cluster.ctl(3, &["delete_queue", &queue]).await;
    }
    names.cleanup(2).await;
}
