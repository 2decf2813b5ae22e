//! A test environment: a transport kind plus names no other test uses.
//!
//! Every test gets its own control exchange and topic, so tests run in
//! parallel and a failed run leaves nothing that disturbs the next one;
//! [`Env::cleanup`] deletes what the test declared.
//!
//! On memory every transport of a test shares one [`MemoryBroker`], as
//! every AMQP transport of a test shares the broker. On AMQP the broker is `RPC_TEST_AMQP_URL` (default
//! `amqp://guest:guest@127.0.0.1:5672/%2f`). When it cannot be reached a test
//! fails if `CI=true`, and is skipped with a printed reason otherwise.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use amqprs::channel::{ExchangeDeleteArguments, QueueDeleteArguments};
use amqprs::connection::{Connection, OpenConnectionArguments};
use rpc_runtime::codec::DEFAULT_MAX_MESSAGE_SIZE;
use rpc_runtime::notify::Priority;
use rpc_runtime::transport::MemoryBroker;
use rpc_runtime::wire::{Wire, WireFormat};
use rpc_runtime::{AmqpConfig, Server, ServerBuilder, Transport};

use crate::volume::{Log, Recorder, VolumeManagerClient, VolumeManagerService};

/// Which transport a test runs on.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    /// RabbitMQ.
    Amqp,
    /// The in-process broker.
    Memory,
    /// A driver of a test's own: a fresh network per test, from this function.
    Custom(fn() -> Arc<dyn Network>),
}

/// A test's own transport: one network per test, which every transport of
/// the test connects to (as they all share one broker on AMQP).
pub trait Network: Send + Sync + std::fmt::Debug {
    /// A new transport on this network, speaking `format`.
    fn connect(&self, format: Arc<dyn WireFormat>) -> Transport;
}

/// The wire format a test's transports speak.
#[derive(Debug, Clone, Copy)]
pub enum Speaks {
    /// A built-in one.
    Builtin(Wire),
    /// A format of the test's own, from this function.
    Own(fn() -> Arc<dyn WireFormat>),
}

impl From<Wire> for Speaks {
    fn from(wire: Wire) -> Self {
        Speaks::Builtin(wire)
    }
}

impl Speaks {
    /// The format, with the default size limit.
    pub fn format(self) -> Arc<dyn WireFormat> {
        match self {
            Speaks::Builtin(wire) => wire.format(DEFAULT_MAX_MESSAGE_SIZE),
            Speaks::Own(make) => make(),
        }
    }
}

/// The broker URL the tests use.
pub fn amqp_url() -> String {
    std::env::var("RPC_TEST_AMQP_URL")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".to_owned())
}

/// True when running in CI, where a missing broker is a failure.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// Says that the running test is skipped, and why, in the default
/// `cargo test` output. libtest captures `eprintln!` (shown only with
/// `--nocapture` or on failure); a write to the stderr handle itself is
/// not captured, so the line shows beside the test's `ok`.
pub fn skipped(why: impl std::fmt::Display) {
    use std::io::Write as _;
    let thread = std::thread::current();
    let test = thread.name().unwrap_or("a test");
    let _ = writeln!(std::io::stderr(), "SKIPPED {test}: {why}");
}

/// One test's names and the transports it opened.
#[derive(Debug)]
pub struct Env {
    pub kind: Kind,
    /// The built-in wire format every transport of the test speaks
    /// (`None`: a format of the test's own, in `speaks`).
    pub wire: Option<Wire>,
    /// The wire format every transport of the test speaks.
    pub speaks: Speaks,
    pub exchange: String,
    pub topic: String,
    transports: Mutex<Vec<Transport>>,
    servers: Mutex<Vec<String>>,
    extra_topics: Mutex<Vec<String>>,
    pools: Mutex<Vec<String>>,
    broker: MemoryBroker,
    network: Option<Arc<dyn Network>>,
}

impl Env {
    /// A fresh environment, or `None` (after printing why) when the broker
    /// is unreachable outside CI.
    pub async fn new(kind: Kind) -> Option<Self> {
        Self::speaking(kind, Wire::Native).await
    }

    /// A fresh environment whose transports speak `wire`.
    pub async fn speaking(kind: Kind, wire: impl Into<Speaks>) -> Option<Self> {
        let speaks = wire.into();
        let id = uuid::Uuid::new_v4().simple().to_string();
        let env = Self {
            kind,
            wire: match speaks {
                Speaks::Builtin(wire) => Some(wire),
                Speaks::Own(_) => None,
            },
            speaks,
            exchange: format!("rpc-test-{}", &id[..12]),
            topic: format!("t-{}", &id[..12]),
            transports: Mutex::new(Vec::new()),
            servers: Mutex::new(Vec::new()),
            extra_topics: Mutex::new(Vec::new()),
            pools: Mutex::new(Vec::new()),
            broker: MemoryBroker::new(),
            network: match kind {
                Kind::Custom(network) => Some(network()),
                _ => None,
            },
        };
        match env.try_transport().await {
            Ok(transport) => {
                transport.close().await;
                Some(env)
            }
            Err(error) if in_ci() => panic!("CI=true but the broker is unreachable: {error}"),
            Err(error) => {
                skipped(format_args!(
                    "no RabbitMQ at {} ({error})",
                    redacted(&amqp_url())
                ));
                None
            }
        }
    }

    async fn try_transport(&self) -> Result<Transport, rpc_runtime::RpcError> {
        match (self.kind, &self.network) {
            (Kind::Memory, _) => {
                return Ok(self
                    .broker
                    .connect_with_format(&self.exchange, self.speaks.format()));
            }
            (_, Some(network)) => return Ok(network.connect(self.speaks.format())),
            _ => {}
        }
        AmqpConfig::from_url(&amqp_url())?
            .control_exchange(&self.exchange)
            .format(self.speaks.format())
            .connect()
            .await
    }

    /// A new transport (its own connection, as another process would have).
    pub async fn transport(&self) -> Transport {
        let transport = self.try_transport().await.expect("connect to the broker");
        self.transports
            .lock()
            .expect("lock")
            .push(transport.clone());
        transport
    }

    /// The transport opened last (e.g. the one [`Env::builder`] made).
    pub fn last_transport(&self) -> Transport {
        self.transports
            .lock()
            .expect("lock")
            .last()
            .cloned()
            .expect("a transport")
    }

    /// Starts a server named `name` hosting a [`Recorder`] on this test's topic.
    pub async fn server(&self, name: &str, log: &Arc<Log>) -> Server {
        let recorder = VolumeManagerService::new(Recorder::new(name, log));
        self.builder(name)
            .await
            .serve_on(&self.topic, recorder)
            .start()
            .await
            .expect("start the server")
    }

    /// Starts a server like [`Env::server`], with options set by `configure`.
    pub async fn server_with(
        &self,
        name: &str,
        log: &Arc<Log>,
        configure: impl FnOnce(ServerBuilder) -> ServerBuilder,
    ) -> Server {
        let recorder = VolumeManagerService::new(Recorder::new(name, log));
        configure(self.builder(name).await)
            .serve_on(&self.topic, recorder)
            .start()
            .await
            .expect("start the server")
    }

    /// A server builder on a new transport, for tests that host other
    /// services or set options; the server's queues are cleaned up.
    pub async fn builder(&self, name: &str) -> ServerBuilder {
        let transport = self.transport().await;
        self.servers.lock().expect("lock").push(name.to_owned());
        Server::builder(&transport, name)
    }

    /// Cleans up the queues of a server started outside [`Env::builder`].
    pub fn track_server(&self, name: &str) {
        self.servers.lock().expect("lock").push(name.to_owned());
    }

    /// Another topic for this test, cleaned up like the main one.
    pub fn extra_topic(&self, suffix: &str) -> String {
        let topic = format!("{}-{suffix}", self.topic);
        self.extra_topics.lock().expect("lock").push(topic.clone());
        topic
    }

    /// The notification topic of this test; its queues (and the pools
    /// named with [`Env::pool`]) are cleaned up.
    pub fn notification_topic(&self) -> String {
        format!("{}-notes", self.topic)
    }

    /// A pool name unique to this test.
    pub fn pool(&self, name: &str) -> String {
        let pool = format!("{}-{name}", self.topic);
        self.pools.lock().expect("lock").push(pool.clone());
        pool
    }

    /// A client of this test's topic with a short timeout.
    pub fn client(&self, transport: &Transport) -> VolumeManagerClient {
        VolumeManagerClient::new(transport)
            .topic(&self.topic)
            .timeout(Duration::from_secs(10))
    }

    /// Closes the transports and deletes the queues and exchanges the test made.
    pub async fn cleanup(self) {
        let transports = std::mem::take(&mut *self.transports.lock().expect("lock"));
        for transport in transports {
            transport.close().await;
        }
        if !matches!(self.kind, Kind::Amqp) {
            return;
        }
        let Ok(connection) = raw_connection().await else {
            return;
        };
        if let Ok(channel) = connection.open_channel(None).await {
            let servers = self.servers.lock().expect("lock").clone();
            let mut topics = vec![self.topic.clone()];
            topics.extend(self.extra_topics.lock().expect("lock").iter().cloned());
            for topic in &topics {
                let mut queues = vec![topic.clone()];
                queues.extend(servers.iter().map(|s| format!("{topic}.{s}")));
                for queue in queues {
                    let _ = channel
                        .queue_delete(QueueDeleteArguments::new(&queue))
                        .await;
                }
                let fanout = format!("{topic}_fanout");
                let _ = channel
                    .exchange_delete(ExchangeDeleteArguments::new(&fanout))
                    .await;
            }
            let mut notification_queues = self.pools.lock().expect("lock").clone();
            let notes = self.notification_topic();
            notification_queues.extend(Priority::ALL.iter().map(|p| p.routing_key(&notes)));
            for queue in notification_queues {
                let _ = channel
                    .queue_delete(QueueDeleteArguments::new(&queue))
                    .await;
            }
            let exchange = ExchangeDeleteArguments::new(&self.exchange);
            let _ = channel.exchange_delete(exchange).await;
            let _ = channel.close().await;
        }
        let _ = connection.close().await;
    }
}

/// Runs `rabbitmqctl`; its output, or `None` (after printing why) when it
/// fails outside CI. Under `CI=true` a failure fails the test.
pub fn rabbitmqctl(args: &[&str]) -> Option<String> {
    match std::process::Command::new("rabbitmqctl")
        .args(args)
        .output()
    {
        Ok(output) if output.status.success() => {
            Some(String::from_utf8_lossy(&output.stdout).into_owned())
        }
        other if in_ci() => panic!("CI=true but `rabbitmqctl {args:?}` failed: {other:?}"),
        other => {
            skipped(format_args!("`rabbitmqctl {args:?}` failed: {other:?}"));
            None
        }
    }
}

/// One queue as `rabbitmqctl list_queues` shows it.
#[derive(Debug, Clone)]
pub struct BrokerQueue {
    pub name: String,
    /// `classic`, `quorum` or `stream`.
    pub kind: String,
    pub durable: bool,
    /// Its arguments as rabbitmqctl prints them.
    pub arguments: String,
}

/// The test broker's queues (`None` where rabbitmqctl cannot be run and
/// the test may skip; under CI it fails instead).
pub fn broker_queues() -> Option<Vec<BrokerQueue>> {
    let columns = ["name", "type", "durable", "arguments"];
    let listing =
        rabbitmqctl(&[&["list_queues", "-q", "--no-table-headers"][..], &columns].concat())?;
    let rows = listing.lines().filter_map(|line| {
        let mut cells = line.splitn(4, '\t');
        Some(BrokerQueue {
            name: cells.next()?.to_owned(),
            kind: cells.next()?.to_owned(),
            durable: cells.next()? == "true",
            arguments: cells.next().unwrap_or_default().to_owned(),
        })
    });
    Some(rows.collect())
}

/// A plain amqprs connection to the test broker, for doing what the runtime
/// never would (publishing garbage, passive declares, cleaning up).
pub async fn raw_connection() -> Result<Connection, amqprs::error::Error> {
    raw_connection_to(&amqp_url()).await
}

/// A plain amqprs connection to `url`.
pub async fn raw_connection_to(url: &str) -> Result<Connection, amqprs::error::Error> {
    let config = AmqpConfig::from_url(url).expect("the test broker URL parses");
    let args = OpenConnectionArguments::new(
        config.host(),
        config.port(),
        config.username(),
        config.password().expose(),
    )
    .virtual_host(config.vhost())
    .finish();
    Connection::open(&args).await
}

/// A vhost of the test broker for one test, for tests whose names are fixed
/// (`volume`, `notifications.info`): `None` (after printing why) when
/// rabbitmqctl fails outside CI. Deleted on drop.
#[derive(Debug)]
pub struct OwnVhost {
    pub name: String,
    /// The test broker's URL with this vhost.
    pub url: String,
}

impl OwnVhost {
    pub fn new(prefix: &str) -> Option<Self> {
        let name = format!("{prefix}-{}", std::process::id());
        let config = AmqpConfig::from_url(&amqp_url()).expect("url");
        let user = config.username().to_owned();
        rabbitmqctl(&["add_vhost", &name])?;
        rabbitmqctl(&["set_permissions", "-p", &name, &user, ".*", ".*", ".*"])?;
        let url = format!(
            "amqp://{user}:{}@{}:{}/{name}",
            config.password().expose(),
            config.host(),
            config.port()
        );
        Some(Self { name, url })
    }
}

impl Drop for OwnVhost {
    fn drop(&mut self) {
        let _ = std::process::Command::new("rabbitmqctl")
            .args(["delete_vhost", &self.name])
            .output();
    }
}

fn redacted(url: &str) -> String {
    AmqpConfig::from_url(url).map_or_else(|_| "(unparsable URL)".to_owned(), |c| c.to_string())
}

/// Runs one conformance case on `kind` speaking `wire`, with cleanup.
pub async fn run<F, Fut>(kind: Kind, wire: impl Into<Speaks>, case: F)
where
    F: FnOnce(Arc<Env>) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let Some(env) = Env::speaking(kind, wire).await else {
        return;
    };
    let env = Arc::new(env);
    case(Arc::clone(&env)).await;
    if let Ok(env) = Arc::try_unwrap(env) {
        env.cleanup().await;
    }
}
