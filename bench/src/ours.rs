//! Our side: an echo service over RabbitMQ or in memory.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rpc_runtime::{AmqpConfig, Context, Server, Transport, rpc_service};

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
}

/// A running echo server and a client of it.
pub struct Deployment {
    pub client: EchoClient,
    pub manager: Arc<EchoManager>,
    _server: Server,
    transports: Vec<Transport>,
}

impl Deployment {
    /// Over RabbitMQ: server and client on their own connections.
    pub async fn amqp(url: &str, topic: &str, concurrency: usize) -> Self {
        let connect = || async {
            AmqpConfig::from_url(url)
                .expect("url")
                .control_exchange("rpc-bench")
                .connect()
                .await
                .expect("connect")
        };
        let (server_side, client_side) = (connect().await, connect().await);
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
        let manager = Arc::new(EchoManager::default());
        let server = Server::builder(&server_side, "bench-1")
            .concurrency(concurrency)
            .serve_on(topic, EchoService::from_arc(Arc::clone(&manager)))
            .start()
            .await
            .expect("start");
        let client = EchoClient::new(&client_side.with_max_pending_calls(100_000))
            .topic(topic)
            .timeout(Duration::from_secs(60));
        Self {
            client,
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
