//! Typed RPC services over RabbitMQ, in the spirit of OpenStack's
//! oslo.messaging.
//!
//! Annotate a trait with [`rpc_service`]; the trait becomes the *manager*
//! you implement, and the macro generates a typed client (`FooClient`, with
//! oslo-style `to_server`, `timeout` and `fanout` options) and a dispatcher
//! (`FooService<M>`) that a [`Server`] binds to the broker.
//!
//! ```no_run
//! use rpc_runtime::{Context, RpcError, Server, Transport, rpc_service};
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Debug, Serialize, Deserialize)]
//! pub struct Volume { pub id: u64, pub name: String, pub size_gb: u32 }
//!
//! #[derive(Debug, thiserror::Error, Serialize, Deserialize)]
//! pub enum VolumeError {
//!     #[error("no room for {0} GB")]
//!     NoSpace(u32),
//!     #[error(transparent)]
//!     Rpc(#[from] RpcError),
//! }
//!
//! #[rpc_service(topic = "volume")]
//! pub trait VolumeManager {
//!     /// Create a volume and return it once it exists.
//!     async fn create_volume(&self, ctx: &Context, name: String, size_gb: u32) -> Result<Volume, VolumeError>;
//!     /// Delete a volume; nobody waits for the answer.
//!     #[rpc(cast)]
//!     async fn delete_volume(&self, ctx: &Context, id: u64);
//! }
//!
//! struct Manager;
//!
//! impl VolumeManager for Manager {
//!     async fn create_volume(&self, _ctx: &Context, name: String, size_gb: u32) -> Result<Volume, VolumeError> {
//!         Ok(Volume { id: 1, name, size_gb })
//!     }
//!     async fn delete_volume(&self, _ctx: &Context, _id: u64) {}
//! }
//!
//! # async fn demo() -> Result<(), VolumeError> {
//! let transport = Transport::connect("amqp://guest:guest@127.0.0.1:5672/%2f").await?;
//! let _server = Server::builder(&transport, "host-1")
//!     .serve(VolumeManagerService::new(Manager))
//!     .start()
//!     .await?;
//!
//! let client = VolumeManagerClient::new(&transport);
//! let ctx = Context::new();
//! let volume = client.create_volume(&ctx, "db".into(), 10).await?;
//! client.to_server("host-1").delete_volume(&ctx, volume.id).await?;
//! client.fanout().delete_volume(&ctx, volume.id).await?;
//! # Ok(()) }
//! ```

mod args;
pub mod builtin;
mod client;
pub mod codec;
mod context;
pub mod descriptor;
mod error;
mod future;
#[cfg(feature = "logging")]
pub mod logging;
pub mod message;
pub mod notify;
mod options;
mod priority;
mod raw;
mod secret;
pub mod server;
mod service;
mod signal;
pub mod stream;
pub mod telemetry;
pub mod testing;
pub mod topology;
pub mod trace;
pub mod transport;
mod typed;
mod uniform_hash;
mod version;
pub mod wire;

#[doc(hidden)]
#[path = "private.rs"]
pub mod __private;
pub(crate) use __private as private;

pub use context::Context;
pub use descriptor::{ArgDescriptor, MethodDescriptor, MethodKind, ServiceDescriptor};
pub use error::{Awaited, RpcError};
pub use future::BoxFuture;
pub use options::CallOptions;
pub use rpc_macros::rpc_service;
pub use secret::Secret;
pub use server::{AckMode, Server, ServerBuilder};
pub use service::Service;
pub use signal::shutdown_signal;
pub use stream::RpcStream;
pub use tokio_util::sync::CancellationToken;
pub use transport::DEFAULT_TIMEOUT;
pub use transport::amqp::{AmqpConfig, TlsOptions};
pub use transport::{Destination, Transport};

/// Re-exported so generated code and users share one serde.
pub use serde;
