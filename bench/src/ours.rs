//! Our side: an echo service over RabbitMQ or in memory.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rpc_runtime::{AmqpConfig, Context, RpcError, RpcStream, Server, Transport, rpc_service};

/// The benchmark service.
#[rpc_service(topic = "bench")]
pub trait Echo {
    /// Returns its payload.
    async fn echo(&self, ctx: &Context, payload: String) -> String;
    /// Returns its payload after `millis` (for holding many calls in flight).
    async fn echo_after(&self, ctx: &Context, payload: String, millis: u64) -> String;
    /// Counts it.
    #[rpc(cast)]
    async fn sink(&self, ctx: &Context, payload: String);
    /// `n` items of `size` bytes, streamed.
    async fn items(&self, ctx: &Context, n: u64, size: u64) -> RpcStream<String, RpcError>;
}

/// The manager: echoes, counts casts.
#[derive(Debug, Default)]
pub struct EchoManager {
    pub received: AtomicU64,
}

impl Echo for EchoManager {
    async fn echo(&self, _ctx: &Context, payload: String) -> String {
        payload
    }

    async fn echo_after(&self, _ctx: &Context, payload: String, millis: u64) -> String {
        tokio::time::sleep(Duration::from_millis(millis)).await;
        payload
    }

    async fn sink(&self, _ctx: &Context, _payload: String) {
        self.received.fetch_add(1, Ordering::Relaxed);
    }

    async fn items(&self, _ctx: &Context, n: u64, size: u64) -> RpcStream<String, RpcError> {
        let item = "x".repeat(size as usize);
        RpcStream::iter((0..n).map(move |_| Ok(item.clone())))
    }
}

/// A running echo server and a client of it.
pub struct Deployment {
    pub client: EchoClient,
    pub manager: Arc<EchoManager>,
    _server: Server,
    transports: Vec<Transport>,
}

/// Connects to RabbitMQ on the benchmark's control exchange.
async fn connect(url: &str) -> Transport {
    AmqpConfig::from_url(url)
        .expect("url")
        .control_exchange("rpc-bench")
        .connect()
        .await
        .expect("connect")
}

/// Starts an echo server on `transport`.
async fn serve(
    transport: &Transport,
    topic: &str,
    concurrency: usize,
) -> (Server, Arc<EchoManager>) {
    let manager = Arc::new(EchoManager::default());
    let server = Server::builder(transport, "bench-1")
        .concurrency(concurrency)
        .serve_on(topic, EchoService::from_arc(Arc::clone(&manager)))
        .start()
        .await
        .expect("start");
    (server, manager)
}

/// A client of `topic` on `transport`.
fn client(transport: &Transport, topic: &str) -> EchoClient {
    EchoClient::new(&transport.with_max_pending_calls(100_000))
        .topic(topic)
        .timeout(Duration::from_secs(60))
}

/// An echo server alone, over RabbitMQ (a server process of its own).
pub struct ServerOnly {
    pub manager: Arc<EchoManager>,
    _server: Server,
    transport: Transport,
}

impl ServerOnly {
    pub async fn amqp(url: &str, topic: &str, concurrency: usize) -> Self {
        let transport = connect(url).await;
        let (server, manager) = serve(&transport, topic, concurrency).await;
        Self {
            manager,
            _server: server,
            transport,
        }
    }

    pub async fn close(self) {
        self.transport.close().await;
    }
}

/// A client alone, over RabbitMQ, of a server in another process.
pub async fn remote_client(url: &str, topic: &str) -> (EchoClient, Transport) {
    let transport = connect(url).await;
    (client(&transport, topic), transport)
}

impl Deployment {
    /// Over RabbitMQ: server and client on their own connections.
    pub async fn amqp(url: &str, topic: &str, concurrency: usize) -> Self {
        let (server_side, client_side) = (connect(url).await, connect(url).await);
        Self::start(server_side, client_side, topic, concurrency).await
    }

    /// In memory.
    pub async fn memory(topic: &str, concurrency: usize) -> Self {
        let transport = Transport::memory();
        Self::start(transport.clone(), transport, topic, concurrency).await
    }

    async fn start(
        server_side: Transport,
        client_side: Transport,
        topic: &str,
        concurrency: usize,
    ) -> Self {
        let (server, manager) = serve(&server_side, topic, concurrency).await;
        Self {
            client: client(&client_side, topic),
            manager,
            _server: server,
            transports: vec![server_side, client_side],
        }
    }

    /// Closes the connections.
    pub async fn close(self) {
        for transport in &self.transports {
            transport.close().await;
        }
    }
}
