//! What the runtime tells an operator besides logs: metrics, through the
//! [`metrics`](::metrics) facade, and `tracing` spans that follow
//! OpenTelemetry's conventions for RPC and messaging.
//!
//! | metric | kind | labels | what |
//! |---|---|---|---|
//! | `rpc_client_duration_seconds` | histogram | `rpc_service`, `rpc_method`, `outcome` | a call, from send to reply |
//! | `rpc_client_casts_total` | counter | `rpc_service`, `rpc_method`, `outcome` | casts: `confirmed` or why not |
//! | `rpc_client_pending_calls` | gauge | | calls waiting for their reply |
//! | `rpc_client_heartbeats_missed_total` | counter | `rpc_method` | calls whose server fell silent (call monitor) |
//! | `rpc_server_duration_seconds` | histogram | `rpc_service`, `rpc_method`, `outcome` | a request, from decode to reply |
//! | `rpc_server_requests_in_flight` | gauge | `rpc_service` | requests being handled |
//! | `rpc_server_messages_redelivered_total` | counter | | requests the broker delivered again |
//! | `rpc_server_messages_dropped_total` | counter | `reason` | requests dropped unhandled |
//! | `rpc_reconnects_total` | counter | | AMQP connections replaced |
//! | `rpc_notifications_total` | counter | `outcome` | notifications `handled`, `retried` or `dropped` |
//!
//! `outcome` is `ok`, `error` (the manager's own error), or the
//! [`RpcError::kind`](crate::RpcError::kind) of a failure. Install a
//! recorder (e.g. `metrics-exporter-prometheus`), then call
//! [`describe_metrics`]; without one, recording is a no-op.
//!
//! Spans: `rpc.client` per call or cast, `rpc.server` per handled request,
//! named `Service/method` (`otel.name`), with `otel.kind`, `rpc.system`
//! (`rpc_runtime`, or `oslo_messaging` on the oslo wire), `rpc.service`,
//! `rpc.method`, `messaging.system`, the exchange
//! (`messaging.destination.name`) and routing key, the body size,
//! `server.address`, and `error.type` with `otel.status_code` on failure.
//!
//! Spans are plain `tracing` spans, so `tracing-opentelemetry` exports
//! them. With the `opentelemetry` feature the runtime also links them
//! across services: a client span's ids become the request's
//! `traceparent`, and the server span's parent is the caller's span.

mod keys;
mod metrics;
mod otel;
pub(crate) mod spans;

pub use self::metrics::describe_metrics;
pub(crate) use self::metrics::*;
