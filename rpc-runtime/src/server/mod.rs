//! The server: binds services to their queues and drives them.
//!
//! [`ServerBuilder`] (`builder.rs`) collects the services and starts one
//! loop per topic (`consumer.rs`), which takes deliveries and hands each
//! request to `dispatch.rs`, which has it run (`run.rs`) and answers; [`Server`]
//! (`running.rs`) stops them.
//!
//! For each service the server receives from the three queues of the
//! service's topic (see [`crate::topology`]). Each delivery is acked when taken (oslo's
//! at-most-once for calls), then handled in its own task; a semaphore bounds
//! how many run at once, and the broker's prefetch bounds what waits. Any bad
//! message (missing headers, unknown method, undecodable body, wrong version)
//! is logged and answered with an error when the caller waits; a panicking
//! manager method is answered with [`crate::RpcError::Internal`]. The server keeps
//! serving through all of it.

mod builder;
mod consumer;
pub(crate) mod dispatch;
mod kwargs;
mod run;
mod running;
pub(crate) mod state;
mod stats;
pub(crate) mod streams;

pub use builder::{DEFAULT_CONCURRENCY, DEFAULT_SERVER_QUEUE_EXPIRY, ServerBuilder};
pub use consumer::AckMode;
pub use running::{DEFAULT_GRACE, Server};
