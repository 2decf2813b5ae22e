//! The `tracing` spans of calls, casts and handled requests, named and
//! attributed after OpenTelemetry's semantic conventions for RPC and
//! messaging, so `tracing-opentelemetry` exports them as Jaeger or Tempo
//! expect:
//!
//! | attribute | client span (`rpc.client`) | server span (`rpc.server`) |
//! |---|---|---|
//! | `otel.name` | `Service/method` | `Service/method` |
//! | `otel.kind` | `client` (call), `producer` (cast) | `server` (call), `consumer` (cast) |
//! | `rpc.system` | `rpc_runtime`, or `oslo_messaging` on the oslo wire | same |
//! | `rpc.service`, `rpc.method` | the trait and method | same |
//! | `messaging.system` | `rabbitmq` (`memory` in memory) | same |
//! | `messaging.destination.name` | the exchange | the topic |
//! | `messaging.rabbitmq.destination.routing_key` | `topic`, `topic.server` | |
//! | `messaging.operation.type` | `send` | `process` |
//! | `messaging.message.body.size` | the request's bytes | the request's bytes |
//! | `server.address` | the broker `host:port` | |
//! | `error.type`, `otel.status_code` | on failure: the error's kind, `ERROR` | same |
//!
//! The server span also keeps the log fields `topic`, `method`,
//! `request_id`, `trace_id` and `parent_span_id`.

use std::fmt;

use tracing::Span;
use tracing::field::Empty;

use crate::descriptor::{MethodDescriptor, MethodKind, ServiceDescriptor};
use crate::trace::TraceParent;
use crate::wire::IncomingRequest;

/// `Service/method`, formatted only when a span is recorded.
struct SpanName(&'static str, &'static str);

impl fmt::Display for SpanName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.0, self.1)
    }
}

/// Where a client span's request goes.
pub(crate) struct Target<'a> {
    pub(crate) exchange: Option<&'a str>,
    pub(crate) routing_key: &'a dyn fmt::Display,
    pub(crate) broker: Option<String>,
    pub(crate) messaging: &'static str,
    pub(crate) body_size: usize,
}

/// The span of one call or cast, before it is sent.
pub(crate) fn client(
    service: &'static ServiceDescriptor,
    method: &'static MethodDescriptor,
    system: &'static str,
    cast: bool,
) -> Span {
    tracing::info_span!(
        "rpc.client",
        otel.name = %SpanName(service.name, method.name),
        otel.kind = if cast { "producer" } else { "client" },
        rpc.system = system,
        rpc.service = service.name,
        rpc.method = method.name,
        messaging.system = Empty,
        messaging.destination.name = Empty,
        messaging.rabbitmq.destination.routing_key = Empty,
        messaging.operation.type = "send",
        messaging.message.body.size = Empty,
        server.address = Empty,
        error.type = Empty,
        otel.status_code = Empty,
    )
}

/// Records where the request of `span` goes.
pub(crate) fn sent_to(span: &Span, target: &Target<'_>) {
    if span.is_disabled() {
        return;
    }
    span.record("messaging.system", target.messaging);
    if let Some(exchange) = target.exchange {
        span.record("messaging.destination.name", exchange);
    }
    span.record(
        "messaging.rabbitmq.destination.routing_key",
        tracing::field::display(target.routing_key),
    );
    span.record("messaging.message.body.size", target.body_size);
    if let Some(broker) = &target.broker {
        span.record("server.address", broker.as_str());
    }
}

/// The span of one handled request.
pub(crate) fn server(
    service: &'static ServiceDescriptor,
    method: &'static MethodDescriptor,
    system: &'static str,
    topic: &str,
    request: &IncomingRequest,
    trace: &TraceParent,
    received: bool,
) -> Span {
    let (trace_id, parent_span_id) = trace.ids();
    let span = tracing::info_span!(
        "rpc.server",
        otel.name = %SpanName(service.name, method.name),
        otel.kind = if method.kind == MethodKind::Cast { "consumer" } else { "server" },
        rpc.system = system,
        rpc.service = service.name,
        rpc.method = method.name,
        messaging.system = "rabbitmq",
        messaging.destination.name = %topic,
        messaging.operation.type = "process",
        messaging.message.body.size = request.body.len(),
        error.type = Empty,
        otel.status_code = Empty,
        topic = %topic,
        method = method.name,
        request_id = request.context.request_id(),
        trace_id = %trace_id,
        parent_span_id = received.then_some(tracing::field::display(parent_span_id)),
    );
    if received {
        super::otel::adopt_remote_parent(&span, trace);
    }
    span
}

/// Marks `span` failed with `kind` (an [`RpcError::kind`](crate::RpcError::kind)
/// or `error` for the manager's own error).
pub(crate) fn failed(span: &Span, kind: &'static str) {
    span.record("error.type", kind);
    span.record("otel.status_code", "ERROR");
}

/// The `traceparent` a request sent within `span` carries: the span's own
/// ids when an OpenTelemetry layer records it, else `None` (the context's
/// trace, one hop further).
pub(crate) fn outgoing_trace(span: &Span) -> Option<TraceParent> {
    super::otel::trace_of(span)
}
