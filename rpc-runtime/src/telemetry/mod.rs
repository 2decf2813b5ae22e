//! What the runtime tells an operator besides logs: metrics ([`metrics`]
//! facade, see the table there) and `tracing` spans that follow
//! OpenTelemetry's conventions for RPC and messaging ([`spans`]).
//!
//! Spans are plain `tracing` spans, so `tracing-opentelemetry` exports
//! them. With the `opentelemetry` feature the runtime also links them
//! across services: a client span's ids become the request's
//! `traceparent`, and the server span's parent is the caller's span.

mod metrics;
mod otel;
pub(crate) mod spans;

pub use self::metrics::describe_metrics;
pub(crate) use self::metrics::*;
