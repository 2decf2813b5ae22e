//! The sample service of the tests and a manager that records every request.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use rpc_runtime::{Context, RpcError, rpc_service};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

/// A volume, as the manager returns it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Volume {
    pub id: u64,
    pub name: String,
    pub size_gb: u32,
    pub host: String,
}

/// The manager's own error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
pub enum VolumeError {
    #[error("no room for {requested} GB on {host}")]
    NoSpace { requested: u32, host: String },
    #[error(transparent)]
    Rpc(#[from] RpcError),
}

/// The volume service used across the tests.
#[rpc_service(topic = "volume")]
pub trait VolumeManager {
    /// Creates a volume; sizes over 100 GB fail with `NoSpace`.
    async fn create_volume(
        &self,
        ctx: &Context,
        name: String,
        size_gb: u32,
    ) -> Result<Volume, VolumeError>;
    /// Looks a volume up; never fails on the manager side.
    async fn get_volume(&self, ctx: &Context, id: u64) -> Option<Volume>;
    /// The name of the server that handled the call.
    async fn whoami(&self, ctx: &Context) -> String;
    /// Returns `n` after `millis` milliseconds.
    async fn slow_echo(&self, ctx: &Context, n: u64, millis: u64) -> u64;
    /// Panics.
    async fn boom(&self, ctx: &Context) -> u32;
    /// Waits until `parties` calls are inside at once (true), or gives up
    /// after 10 s (false): only a server running requests concurrently lets
    /// them all through.
    async fn rendezvous(&self, ctx: &Context, parties: u32) -> bool;
    /// Deletes a volume (one-way).
    #[rpc(cast)]
    async fn delete_volume(&self, ctx: &Context, id: u64);
    /// Logs its start, sleeps `millis`, logs its end (one-way).
    #[rpc(cast)]
    async fn slow_cast(&self, ctx: &Context, id: u64, millis: u64);
    /// What the server saw of the request's context.
    async fn context_seen(&self, ctx: &Context) -> ContextView;
    /// Calls `context_seen` on `server` with the context it received.
    async fn relay_context(
        &self,
        ctx: &Context,
        server: String,
    ) -> Result<ContextView, VolumeError>;
}

/// A server's view of a received context.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContextView {
    pub request_id: String,
    pub user_id: Option<String>,
    pub project_id: Option<String>,
    pub roles: Vec<String>,
    pub auth_token: Option<String>,
    pub values: std::collections::BTreeMap<String, String>,
    pub trace_id: Option<String>,
    pub parent_span_id: Option<String>,
    pub remaining_ms: Option<u128>,
}

impl ContextView {
    fn of(ctx: &Context) -> Self {
        Self {
            request_id: ctx.request_id().to_owned(),
            user_id: ctx.user_id().map(str::to_owned),
            project_id: ctx.project_id().map(str::to_owned),
            roles: ctx.roles().to_vec(),
            auth_token: ctx.auth_token().map(|t| t.expose().to_owned()),
            values: ctx.values().clone(),
            trace_id: ctx.trace().map(|t| t.trace_id().to_owned()),
            parent_span_id: ctx.trace().map(|t| t.parent_id().to_owned()),
            remaining_ms: ctx.remaining().map(|d| d.as_millis()),
        }
    }
}

/// A second version of the same topic's API, as a newer client sees it.
#[rpc_service(topic = "volume")]
pub trait VolumeManagerNext {
    /// Exists on new servers only.
    async fn snapshot(&self, ctx: &Context, id: u64) -> u64;
    /// Same name as on the old API, other argument types.
    async fn get_volume(&self, ctx: &Context, id: String, verbose: bool) -> Option<Volume>;
}

/// What a manager handled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    Created { name: String },
    Deleted { id: u64, request_id: String },
    Echoing { n: u64 },
    CastStarted { id: u64 },
    CastDone { id: u64 },
    Echoed { n: u64 },
}

/// A record of events with a way to wait for a condition on it.
#[derive(Debug)]
pub struct Log {
    events: Mutex<Vec<(String, Event)>>,
    version: watch::Sender<u64>,
    barrier: std::sync::OnceLock<tokio::sync::Barrier>,
}

impl Default for Log {
    fn default() -> Self {
        Self {
            events: Mutex::new(Vec::new()),
            version: watch::Sender::new(0),
            barrier: std::sync::OnceLock::new(),
        }
    }
}

impl Log {
    fn push(&self, server: &str, event: Event) {
        self.events
            .lock()
            .expect("log lock")
            .push((server.to_owned(), event));
        self.version.send_modify(|v| *v += 1);
    }

    /// Every event so far, with the server that handled it.
    /// Changes whenever an event is logged.
    pub fn watch(&self) -> watch::Receiver<u64> {
        self.version.subscribe()
    }

    pub fn events(&self) -> Vec<(String, Event)> {
        self.events.lock().expect("log lock").clone()
    }

    /// Waits until some server started `slow_echo(n, ..)`.
    pub async fn wait_until_echoing(&self, within: Duration, n: u64) {
        self.wait_for(within, |events| {
            events.iter().any(|(_, e)| *e == Event::Echoing { n })
        })
        .await;
    }

    /// Waits until `done(events)` holds; panics after `within`.
    pub async fn wait_for(&self, within: Duration, done: impl Fn(&[(String, Event)]) -> bool) {
        let mut changes = self.version.subscribe();
        let waiting = async {
            loop {
                if done(&self.events()) {
                    return;
                }
                if changes.changed().await.is_err() {
                    return;
                }
            }
        };
        if tokio::time::timeout(within, waiting).await.is_err() {
            panic!(
                "condition not met within {within:?}; events: {:?}",
                self.events()
            );
        }
    }
}

/// A manager that records every request into a shared [`Log`].
#[derive(Debug, Clone)]
pub struct Recorder {
    pub server: String,
    pub log: Arc<Log>,
    onward: Option<VolumeManagerClient>,
}

impl Recorder {
    pub fn new(server: &str, log: &Arc<Log>) -> Self {
        Self {
            server: server.to_owned(),
            log: Arc::clone(log),
            onward: None,
        }
    }

    /// The client `relay_context` calls onward with.
    pub fn with_onward(mut self, client: VolumeManagerClient) -> Self {
        self.onward = Some(client);
        self
    }
}

impl VolumeManager for Recorder {
    async fn create_volume(
        &self,
        _ctx: &Context,
        name: String,
        size_gb: u32,
    ) -> Result<Volume, VolumeError> {
        if size_gb > 100 {
            return Err(VolumeError::NoSpace {
                requested: size_gb,
                host: self.server.clone(),
            });
        }
        self.log
            .push(&self.server, Event::Created { name: name.clone() });
        Ok(Volume {
            id: 1,
            name,
            size_gb,
            host: self.server.clone(),
        })
    }

    async fn get_volume(&self, _ctx: &Context, id: u64) -> Option<Volume> {
        (id < 1000).then(|| Volume {
            id,
            name: format!("vol-{id}"),
            size_gb: 1,
            host: self.server.clone(),
        })
    }

    async fn whoami(&self, _ctx: &Context) -> String {
        self.server.clone()
    }

    async fn slow_echo(&self, _ctx: &Context, n: u64, millis: u64) -> u64 {
        self.log.push(&self.server, Event::Echoing { n });
        tokio::time::sleep(Duration::from_millis(millis)).await;
        self.log.push(&self.server, Event::Echoed { n });
        n
    }

    async fn boom(&self, _ctx: &Context) -> u32 {
        panic!("the manager blew up");
    }

    async fn rendezvous(&self, _ctx: &Context, parties: u32) -> bool {
        let barrier = self
            .log
            .barrier
            .get_or_init(|| tokio::sync::Barrier::new(parties as usize));
        tokio::time::timeout(Duration::from_secs(10), barrier.wait())
            .await
            .is_ok()
    }

    async fn slow_cast(&self, _ctx: &Context, id: u64, millis: u64) {
        self.log.push(&self.server, Event::CastStarted { id });
        tokio::time::sleep(Duration::from_millis(millis)).await;
        self.log.push(&self.server, Event::CastDone { id });
    }

    async fn context_seen(&self, ctx: &Context) -> ContextView {
        ContextView::of(ctx)
    }

    async fn relay_context(
        &self,
        ctx: &Context,
        server: String,
    ) -> Result<ContextView, VolumeError> {
        let client = self.onward.as_ref().ok_or(VolumeError::NoSpace {
            requested: 0,
            host: "no onward client".into(),
        })?;
        Ok(client.to_server(server).context_seen(ctx).await?)
    }

    async fn delete_volume(&self, ctx: &Context, id: u64) {
        self.log.push(
            &self.server,
            Event::Deleted {
                id,
                request_id: ctx.request_id().to_owned(),
            },
        );
    }
}

/// The first release of a versioned API.
#[rpc_service(topic = "storage", version = "3.0")]
pub trait StorageV30 {
    /// The size of a volume.
    async fn size(&self, ctx: &Context, id: u64) -> u64;
}

/// The same API two minor versions later.
#[rpc_service(topic = "storage", version = "3.2")]
pub trait StorageV32 {
    /// The size of a volume.
    async fn size(&self, ctx: &Context, id: u64) -> u64;
    /// Grows a volume; added in 3.1.
    #[rpc(since = "3.1")]
    async fn extend(&self, ctx: &Context, id: u64, by_gb: u64) -> u64;
}

/// An old (3.0) storage server that counts what it ran.
#[derive(Debug, Default)]
pub struct OldStorage {
    pub handled: std::sync::atomic::AtomicUsize,
}

impl StorageV30 for OldStorage {
    async fn size(&self, _ctx: &Context, id: u64) -> u64 {
        self.handled
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        id * 10
    }
}
