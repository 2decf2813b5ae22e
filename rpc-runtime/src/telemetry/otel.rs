//! The bridge between `traceparent` and OpenTelemetry span contexts, with
//! the `opentelemetry` feature; without it, the functions do nothing and
//! the runtime propagates the request context's trace only.

use tracing::Span;

use crate::trace::TraceParent;

/// Makes the caller's span (from a received `traceparent`) the parent of
/// `span`.
#[cfg(feature = "opentelemetry")]
pub(crate) fn adopt_remote_parent(span: &Span, trace: &TraceParent) {
    use opentelemetry::trace::{
        SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState,
    };
    use tracing_opentelemetry::OpenTelemetrySpanExt;

    if span.is_disabled() {
        return;
    }
    let (trace_id, span_id, flags) = trace.raw();
    let remote = SpanContext::new(
        TraceId::from(trace_id),
        SpanId::from(span_id),
        TraceFlags::new(flags),
        true,
        TraceState::default(),
    );
    let _ = span.set_parent(opentelemetry::Context::new().with_remote_span_context(remote));
}

/// The ids of `span` as OpenTelemetry records it, if it does.
#[cfg(feature = "opentelemetry")]
pub(crate) fn trace_of(span: &Span) -> Option<TraceParent> {
    use opentelemetry::trace::TraceContextExt;
    use tracing_opentelemetry::OpenTelemetrySpanExt;

    if span.is_disabled() {
        return None;
    }
    let context = span.context();
    let otel = context.span();
    let ids = otel.span_context();
    if !ids.is_valid() {
        return None;
    }
    TraceParent::from_raw(
        u128::from_be_bytes(ids.trace_id().to_bytes()),
        u64::from_be_bytes(ids.span_id().to_bytes()),
        ids.trace_flags().to_u8(),
    )
}

#[cfg(not(feature = "opentelemetry"))]
pub(crate) fn adopt_remote_parent(_span: &Span, _trace: &TraceParent) {}

#[cfg(not(feature = "opentelemetry"))]
pub(crate) fn trace_of(_span: &Span) -> Option<TraceParent> {
    None
}
