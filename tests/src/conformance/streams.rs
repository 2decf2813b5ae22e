//! Streaming replies on every transport (native wire): many items in
//! order, a slow reader bounding what is in flight, a dropped stream
//! stopping the manager, an error after items, a dead server ending the
//! stream. [`streaming_suite!`](crate::streaming_suite) makes them tests.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rpc_runtime::stream::{GRANT, INITIAL_CREDIT};
use rpc_runtime::{Context, RpcError, RpcStream, Server, rpc_service};
use serde::{Deserialize, Serialize};

use crate::env::Env;

/// Generates one `#[tokio::test]` per streaming case for `$kind`.
#[macro_export]
macro_rules! streaming_suite {
    ($kind:expr) => {
        $crate::conformance_suite!(@cases $kind, ::rpc_runtime::wire::Wire::Native,
            a_stream_delivers_many_items_in_order,
            a_slow_reader_bounds_what_is_in_flight,
            dropping_a_stream_stops_the_manager,
            an_error_ends_a_stream_after_its_items,
            a_dead_server_ends_the_stream,
        );
    };
}

/// A stream's own error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
pub enum StreamError {
    #[error("gave up after {after} items")]
    GaveUp { after: u64 },
    #[error(transparent)]
    Rpc(#[from] RpcError),
}

/// The streaming service of the tests.
#[rpc_service(topic = "streamer")]
pub trait Streamer {
    /// `0..n`.
    async fn count(&self, ctx: &Context, n: u64) -> RpcStream<u64, StreamError>;
    /// `0..n`, then `GaveUp`.
    async fn fail_after(&self, ctx: &Context, n: u64) -> RpcStream<u64, StreamError>;
    /// `0..` without end, counting what it produced.
    async fn forever(&self, ctx: &Context) -> RpcStream<u64, StreamError>;
    /// `0..n`, then nothing, ever.
    async fn stall(&self, ctx: &Context, n: u64) -> RpcStream<u64, StreamError>;
}

/// What the manager's streams did.
#[derive(Debug, Default)]
pub struct Produced {
    pub items: AtomicU64,
    pub dropped: AtomicBool,
}

/// Sets `dropped` when the manager's stream is dropped.
struct DropFlag(Arc<Produced>);

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.dropped.store(true, Ordering::SeqCst);
    }
}

#[derive(Debug, Default)]
pub struct Streams(pub Arc<Produced>);

impl Streamer for Streams {
    async fn count(&self, _ctx: &Context, n: u64) -> RpcStream<u64, StreamError> {
        RpcStream::iter((0..n).map(Ok))
    }

    async fn fail_after(&self, _ctx: &Context, n: u64) -> RpcStream<u64, StreamError> {
        RpcStream::iter(
            (0..n)
                .map(Ok)
                .chain([Err(StreamError::GaveUp { after: n })]),
        )
    }

    async fn forever(&self, _ctx: &Context) -> RpcStream<u64, StreamError> {
        let flag = DropFlag(Arc::clone(&self.0));
        RpcStream::new(futures_util::stream::unfold(
            (0u64, flag),
            |(i, flag)| async move {
                flag.0.items.fetch_add(1, Ordering::SeqCst);
                Some((Ok(i), (i + 1, flag)))
            },
        ))
    }

    async fn stall(&self, _ctx: &Context, n: u64) -> RpcStream<u64, StreamError> {
        let items = futures_util::stream::iter((0..n).map(Ok));
        RpcStream::new(futures_util::StreamExt::chain(
            items,
            futures_util::stream::pending(),
        ))
    }
}

/// A server of [`Streamer`] on the test's topic, on its own transport.
async fn serve(env: &Env, produced: &Arc<Produced>) -> (Server, rpc_runtime::Transport) {
    let transport = env.transport().await;
    env.track_server("host-1");
    let server = Server::builder(&transport, "host-1")
        .serve_on(
            &env.topic,
            StreamerService::new(Streams(Arc::clone(produced))),
        )
        .start()
        .await
        .expect("serve");
    (server, transport)
}

fn client(env: &Env, transport: &rpc_runtime::Transport) -> StreamerClient {
    StreamerClient::new(transport)
        .topic(&env.topic)
        .timeout(Duration::from_secs(120))
}

pub async fn a_stream_delivers_many_items_in_order(env: Arc<Env>) {
    let produced = Arc::default();
    let (_server, _) = serve(&env, &produced).await;
    let client = client(&env, &env.transport().await);
    let mut items = client.count(&Context::new(), 100_000).await;
    let mut next = 0;
    while let Some(item) = items.next().await {
        assert_eq!(item, Ok(next), "items arrive in order");
        next += 1;
    }
    assert_eq!(next, 100_000, "every item, then the end");
}

pub async fn a_slow_reader_bounds_what_is_in_flight(env: Arc<Env>) {
    let produced: Arc<Produced> = Arc::default();
    let (_server, _) = serve(&env, &produced).await;
    let client = client(&env, &env.transport().await);
    let mut items = client.forever(&Context::new()).await;
    // The server may run ahead of the reader by its credit, and no more.
    let bound = u64::from(INITIAL_CREDIT + GRANT) + 1;
    for read in 1..=100u64 {
        assert_eq!(items.next().await, Some(Ok(read - 1)));
        tokio::time::sleep(Duration::from_millis(10)).await;
        let ahead = produced.items.load(Ordering::SeqCst) - read;
        assert!(
            ahead <= bound,
            "{ahead} items ahead of the reader after {read}"
        );
    }
}

pub async fn dropping_a_stream_stops_the_manager(env: Arc<Env>) {
    let produced: Arc<Produced> = Arc::default();
    let (_server, _) = serve(&env, &produced).await;
    let client = client(&env, &env.transport().await);
    let mut items = client.forever(&Context::new()).await;
    for i in 0..10 {
        assert_eq!(items.next().await, Some(Ok(i)));
    }
    drop(items);
    let dropped = Instant::now();
    while !produced.dropped.load(Ordering::SeqCst) {
        assert!(
            dropped.elapsed() < Duration::from_secs(1),
            "the manager's stream still runs 1 s after the caller dropped it"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

pub async fn an_error_ends_a_stream_after_its_items(env: Arc<Env>) {
    let produced = Arc::default();
    let (_server, _) = serve(&env, &produced).await;
    let client = client(&env, &env.transport().await);
    let mut items = client.fail_after(&Context::new(), 5).await;
    for i in 0..5 {
        assert_eq!(items.next().await, Some(Ok(i)));
    }
    assert_eq!(
        items.next().await,
        Some(Err(StreamError::GaveUp { after: 5 })),
        "the manager's error, typed, after its items"
    );
    assert_eq!(items.next().await, None);
}

pub async fn a_dead_server_ends_the_stream(env: Arc<Env>) {
    let produced = Arc::default();
    let (_server, server_transport) = serve(&env, &produced).await;
    let monitor = Duration::from_secs(1);
    let client = client(&env, &env.transport().await).call_monitor(monitor);
    let mut items = client.stall(&Context::new(), 3).await;
    for i in 0..3 {
        assert_eq!(items.next().await, Some(Ok(i)));
    }
    // The server's connection goes, as when its process is killed: no
    // more items, no more heartbeats.
    server_transport.close().await;
    let died = Instant::now();
    match items.next().await {
        Some(Err(StreamError::Rpc(RpcError::Unresponsive { .. }))) => {}
        other => panic!("expected Unresponsive, got {other:?}"),
    }
    assert!(
        died.elapsed() < monitor * 5,
        "noticed within the call monitor's window: {:?}",
        died.elapsed()
    );
}
