//! Metrics, through the [`metrics`](::metrics) facade: the runtime records them, the
//! application chooses where they go by installing a recorder (e.g.
//! `metrics-exporter-prometheus`). Without one, recording is a no-op.
//!
//! The facade and not OpenTelemetry's metrics API: it costs nothing
//! without a recorder, has a Prometheus exporter that serves `/metrics`
//! itself, and an application using OpenTelemetry can still bridge it.
//!
//! The table of metrics is in the parent module's docs.

use std::time::Duration;

use ::metrics::{
    Gauge, Level, Metadata, Unit, counter, describe_counter, describe_gauge, describe_histogram,
    gauge, with_recorder,
};

use super::keys::with_key;

/// Where the metrics recorded without the facade's macros come from (as
/// the macros would say).
static METADATA: Metadata<'static> =
    Metadata::new(module_path!(), Level::INFO, Some(module_path!()));

use crate::error::RpcError;
use crate::wire::ReplyBody;

const CLIENT_DURATION: &str = "rpc_client_duration_seconds";
const CLIENT_CASTS: &str = "rpc_client_casts_total";
const PENDING_CALLS: &str = "rpc_client_pending_calls";
const HEARTBEATS_MISSED: &str = "rpc_client_heartbeats_missed_total";
const SERVER_DURATION: &str = "rpc_server_duration_seconds";
const IN_FLIGHT: &str = "rpc_server_requests_in_flight";
const REDELIVERED: &str = "rpc_server_messages_redelivered_total";
const DROPPED: &str = "rpc_server_messages_dropped_total";
const CASTS_FAILED: &str = "rpc_server_casts_failed_total";
const RECONNECTS: &str = "rpc_reconnects_total";
const NOTIFICATIONS: &str = "rpc_notifications_total";

/// Gives the installed recorder each metric's unit and description. Call
/// it once, after installing the recorder.
pub fn describe_metrics() {
    describe_histogram!(
        CLIENT_DURATION,
        Unit::Seconds,
        "A call, from send to reply."
    );
    describe_counter!(
        CLIENT_CASTS,
        "Casts sent: confirmed by the broker, or why not."
    );
    describe_gauge!(PENDING_CALLS, "Calls waiting for their reply.");
    describe_counter!(
        HEARTBEATS_MISSED,
        "Calls whose server sent no heartbeat within the call monitor."
    );
    describe_histogram!(
        SERVER_DURATION,
        Unit::Seconds,
        "A request, from decode to reply."
    );
    describe_gauge!(IN_FLIGHT, "Requests being handled.");
    describe_counter!(REDELIVERED, "Requests the broker delivered again.");
    describe_counter!(DROPPED, "Requests dropped without being handled.");
    describe_counter!(
        CASTS_FAILED,
        "Casts a server refused or failed (nobody waits for their answer), by error kind."
    );
    describe_counter!(RECONNECTS, "AMQP connections replaced after a loss.");
    describe_counter!(
        NOTIFICATIONS,
        "Notifications handled, retried or dropped by listeners."
    );
}

/// The labels of a method's metrics.
fn method_labels(
    service: &'static str,
    method: &'static str,
    outcome: &'static str,
) -> [(&'static str, &'static str); 3] {
    [
        ("rpc_service", service),
        ("rpc_method", method),
        ("outcome", outcome),
    ]
}

/// Records `took` in histogram `name` with `labels` (a key built once per
/// thread, see [`with_key`]).
fn record_duration(name: &'static str, labels: &[(&'static str, &'static str)], took: Duration) {
    with_key(name, labels, |key| {
        with_recorder(|r| r.register_histogram(key, &METADATA)).record(took.as_secs_f64());
    });
}

/// The outcome label of a reply.
pub(crate) fn outcome(reply: Option<&ReplyBody>) -> &'static str {
    match reply {
        None | Some(ReplyBody::Value(_)) => "ok",
        Some(ReplyBody::Error(_)) => "error",
        Some(ReplyBody::Failure(error)) => error.kind(),
    }
}

/// A call ended.
pub(crate) fn call_done(
    service: &'static str,
    method: &'static str,
    outcome: &'static str,
    took: Duration,
) {
    let labels = method_labels(service, method, outcome);
    record_duration(CLIENT_DURATION, &labels, took);
    if outcome == "unresponsive" {
        counter!(HEARTBEATS_MISSED, "rpc_method" => method).increment(1);
    }
}

/// A cast was confirmed, or failed.
pub(crate) fn cast_done(
    service: &'static str,
    method: &'static str,
    result: Result<(), &RpcError>,
) {
    let outcome = result.map_or_else(RpcError::kind, |()| "confirmed");
    let labels = method_labels(service, method, outcome);
    with_key(CLIENT_CASTS, &labels, |key| {
        with_recorder(|r| r.register_counter(key, &METADATA)).increment(1);
    });
}

/// A request was handled.
pub(crate) fn request_done(
    service: &'static str,
    method: &'static str,
    outcome: &'static str,
    took: Duration,
) {
    let labels = method_labels(service, method, outcome);
    record_duration(SERVER_DURATION, &labels, took);
}

/// Counts a request of `service` as in flight while it lives.
pub(crate) struct InFlight(&'static str);

impl InFlight {
    pub(crate) fn start(service: &'static str) -> Self {
        in_flight(service, |gauge| gauge.increment(1.0));
        Self(service)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        in_flight(self.0, |gauge| gauge.decrement(1.0));
    }
}

/// Changes the in-flight gauge of `service`.
fn in_flight(service: &'static str, change: impl FnOnce(Gauge)) {
    with_key(IN_FLIGHT, &[("rpc_service", service)], |key| {
        change(with_recorder(|r| r.register_gauge(key, &METADATA)));
    });
}

/// A call started (`1.0`) or ended (`-1.0`) waiting for its reply.
pub(crate) fn pending_calls(delta: f64) {
    gauge!(PENDING_CALLS).increment(delta);
}

/// A request arrived again.
pub(crate) fn redelivered() {
    counter!(REDELIVERED).increment(1);
}

/// A request was dropped unhandled, for `reason`.
pub(crate) fn dropped(reason: &'static str) {
    counter!(DROPPED, "reason" => reason).increment(1);
}

/// A cast was refused (unknown method, bad arguments, version) or failed,
/// as `kind` (an [`crate::RpcError::kind`]): its sender never learns it.
pub(crate) fn cast_failed(kind: &'static str) {
    counter!(CASTS_FAILED, "error" => kind).increment(1);
}

/// A connection was replaced.
pub(crate) fn reconnected() {
    counter!(RECONNECTS).increment(1);
}

/// A listener handled, retried or dropped a notification.
pub(crate) fn notification(outcome: &'static str) {
    counter!(NOTIFICATIONS, "outcome" => outcome).increment(1);
}
