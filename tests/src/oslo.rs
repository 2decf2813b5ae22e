//! The service of the oslo.messaging interop tests. `tests/oslo/peer.py`
//! serves the same methods from Python, so either side can be the server
//! of a topic, or both at once.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use rpc_runtime::{Context, RpcError, Server, Transport, rpc_service};

use crate::env::Env;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The errors a storage server raises; Python's `VolumeNotFound(volume_id=7)`
/// arrives as [`StorageError::VolumeNotFound`], anything else Python
/// raises as [`RpcError::Remote`] inside [`StorageError::Rpc`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
pub enum StorageError {
    #[error("Volume {volume_id} could not be found.")]
    VolumeNotFound { volume_id: u64 },
    #[error("invalid kind: {0}")]
    Invalid(String),
    #[error("the backend failed")]
    Backend(#[source] BackendError),
    #[error(transparent)]
    Rpc(#[from] RpcError),
}

/// Why a storage backend failed: the cause of [`StorageError::Backend`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[error("lvcreate exited with {0}")]
pub struct BackendError(pub i32);

/// A storage service, as Python OpenStack services write them.
#[rpc_service(topic = "storage", version = "1.3")]
pub trait Storage {
    /// The server's name.
    async fn whoami(&self, ctx: &Context) -> String;
    /// `a + b`.
    async fn add(&self, ctx: &Context, a: i64, b: i64) -> i64;
    /// The context as the server received it, as a JSON object.
    async fn echo_context(&self, ctx: &Context) -> Value;
    /// Fails: `not_found` with `VolumeNotFound`, `backend` with `Backend`
    /// (which has a cause), anything else `Invalid`.
    async fn fail(&self, ctx: &Context, kind: String) -> Result<(), StorageError>;
    /// Returns `seconds` after sleeping that long.
    async fn slow(&self, ctx: &Context, seconds: f64) -> f64;
    /// Keeps a note (one-way).
    #[rpc(cast)]
    async fn record(&self, ctx: &Context, note: String);
    /// The notes kept so far.
    async fn notes(&self, ctx: &Context) -> Vec<String>;
}

/// The Rust storage server.
#[derive(Debug)]
pub struct RustStorage {
    name: String,
    notes: Mutex<Vec<String>>,
}

impl RustStorage {
    pub fn new(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            notes: Mutex::default(),
        }
    }
}

impl Storage for RustStorage {
    async fn whoami(&self, _ctx: &Context) -> String {
        self.name.clone()
    }

    async fn add(&self, _ctx: &Context, a: i64, b: i64) -> i64 {
        a + b
    }

    async fn echo_context(&self, ctx: &Context) -> Value {
        context_as_json(ctx)
    }

    async fn fail(&self, _ctx: &Context, kind: String) -> Result<(), StorageError> {
        match kind.as_str() {
            "not_found" => Err(StorageError::VolumeNotFound { volume_id: 7 }),
            "backend" => Err(StorageError::Backend(BackendError(5))),
            _ => Err(StorageError::Invalid(kind)),
        }
    }

    async fn slow(&self, _ctx: &Context, seconds: f64) -> f64 {
        tokio::time::sleep(Duration::from_secs_f64(seconds)).await;
        seconds
    }

    async fn record(&self, _ctx: &Context, note: String) {
        self.notes.lock().expect("lock").push(note);
    }

    async fn notes(&self, _ctx: &Context) -> Vec<String> {
        self.notes.lock().expect("lock").clone()
    }
}

/// A context as a JSON object, the way oslo.context's `to_dict()` shows one.
pub fn context_as_json(ctx: &Context) -> Value {
    let mut map = Map::new();
    map.insert("request_id".into(), ctx.request_id().into());
    map.insert("user_id".into(), ctx.user_id().into());
    map.insert("project_id".into(), ctx.project_id().into());
    map.insert("roles".into(), ctx.roles().into());
    for (key, value) in ctx.values() {
        map.insert(key.clone(), value.as_str().into());
    }
    for (key, json) in ctx.raw_values() {
        map.insert(
            key.clone(),
            serde_json::from_str(json).unwrap_or(Value::Null),
        );
    }
    Value::Object(map)
}

/// A Rust storage server that also passes the context it received on to
/// another storage topic: Python → Rust → Python.
#[derive(Debug)]
pub struct Relay {
    pub onward: StorageClient,
}

impl Relay {
    pub fn new(transport: &Transport, topic: &str) -> Self {
        Self {
            onward: StorageClient::new(transport)
                .topic(topic)
                .timeout(Duration::from_secs(10)),
        }
    }
}

impl Storage for Relay {
    async fn whoami(&self, _ctx: &Context) -> String {
        "relay".into()
    }

    async fn add(&self, _ctx: &Context, a: i64, b: i64) -> i64 {
        a + b
    }

    /// What the onward server saw of the context this one received.
    async fn echo_context(&self, ctx: &Context) -> Value {
        match self.onward.echo_context(ctx).await {
            Ok(seen) => seen,
            Err(error) => Value::String(error.to_string()),
        }
    }

    async fn fail(&self, ctx: &Context, kind: String) -> Result<(), StorageError> {
        self.onward.fail(ctx, kind).await
    }

    async fn slow(&self, _ctx: &Context, seconds: f64) -> f64 {
        seconds
    }

    async fn record(&self, _ctx: &Context, _note: String) {}

    async fn notes(&self, _ctx: &Context) -> Vec<String> {
        Vec::new()
    }
}

/// Starts server `name` serving `storage` on `env`'s topic.
pub async fn serve_storage(env: &Env, name: &str, storage: Arc<RustStorage>) -> Server {
    env.builder(name)
        .await
        .serve_on(&env.topic, StorageService::from_arc(storage))
        .start()
        .await
        .expect("start the Rust server")
}
