//! One request for a service: the built-in methods answered at once, any
//! other checked (version, namespace, method, deadline, arguments) and run
//! under its span, a manager's panic caught.

use std::panic::AssertUnwindSafe;
use std::time::SystemTime;

use futures_util::FutureExt;
use tracing::Instrument;

use super::state::ServerState;
use crate::builtin::{self, ServiceDescription};
use crate::codec::Codec;
use crate::descriptor::MethodKind;
use crate::error::RpcError;
use crate::service::{Outcome, Request, Response, Service};
use crate::stream;
use crate::telemetry::{self, spans};
use crate::trace::TraceParent;
use crate::version;
use crate::wire::{IncomingRequest, ReplyBody};

/// Answers the built-in methods (stream credit and cancel, `ping`,
/// `describe`) at once; `None` for any other request, for [`checked_run`].
/// A sync step of its own, so that the request is not held twice across
/// the manager's awaits (which would double what each request in flight
/// costs in memory).
pub(super) fn builtin(
    service: &dyn Service,
    topic: &str,
    request: &IncomingRequest,
    server: Option<&ServerState>,
) -> Option<Outcome> {
    let descriptor = service.descriptor();
    let encoded = match (request.method.as_str(), server) {
        (stream::STREAM_CREDIT, Some(server)) => {
            if let Ok((id, n)) = request.codec.decode::<(String, u32)>(&request.body) {
                server.streams.grant(&id, n);
            }
            return Some(Outcome::Reply(None));
        }
        (stream::STREAM_CANCEL, Some(server)) => {
            if let Ok((id,)) = request.codec.decode::<(String,)>(&request.body) {
                server.streams.cancel(&id);
            }
            return Some(Outcome::Reply(None));
        }
        (builtin::PING, Some(server)) => request
            .codec
            .encode(&server.facts(descriptor.name).ping(topic, descriptor)),
        (builtin::DESCRIBE, _) => request.codec.encode(&ServiceDescription::from(descriptor)),
        _ => return None,
    };
    Some(Outcome::Reply(Some(match encoded {
        Ok(body) => ReplyBody::Value(body),
        Err(error) => ReplyBody::Failure(RpcError::Internal {
            method: request.method.clone(),
            detail: error.to_string(),
        }),
    })))
}

/// Runs a request for one of the service's methods, after checking its
/// version, namespace and deadline. A cast method called with a reply
/// address (`wants_reply`, as a Python caller may) answers nothing
/// (`None`), as oslo.messaging does; the failure of a request with a reply
/// address is logged here with the method and request id (a cast's, by
/// `dispatch.rs`).
pub(super) async fn checked_run(
    service: &dyn Service,
    system: &'static str,
    topic: &str,
    request: &mut IncomingRequest,
    server: Option<&ServerState>,
    show_panics: bool,
    wants_reply: bool,
) -> Outcome {
    let descriptor = service.descriptor();
    if let Some(requested) = &request.version {
        if !version::is_compatible(descriptor.version, requested) {
            return Outcome::Reply(Some(ReplyBody::Failure(version::unsupported(
                topic,
                descriptor.version,
                requested,
            ))));
        }
    }
    if request.namespace.as_deref() != descriptor.namespace {
        return Outcome::Reply(Some(ReplyBody::Failure(RpcError::WrongNamespace {
            topic: topic.to_owned(),
            requested: request.namespace.take(),
            served: descriptor.namespace.map(str::to_owned),
        })));
    }
    // As oslo's dispatcher: a compatible version first, then the method.
    let Some(method) = descriptor.method(&request.method) else {
        return Outcome::Reply(Some(ReplyBody::Failure(RpcError::UnknownMethod {
            topic: topic.to_owned(),
            method: request.method.clone(),
        })));
    };
    if request
        .context
        .deadline()
        .is_some_and(|d| d <= SystemTime::now())
    {
        tracing::debug!(
            method = method.name,
            "skipped a request whose caller stopped waiting"
        );
        return Outcome::Reply(None);
    }
    // A caller without a trace sends none: the trace starts here, and
    // onward calls made with this context continue it.
    let received = request.context.trace().copied();
    let trace = received.unwrap_or_else(TraceParent::new_trace);
    let span = spans::server(
        descriptor,
        method,
        system,
        topic,
        request,
        &trace,
        received.is_some(),
    );
    // Onward calls continue the server span's trace (when OpenTelemetry
    // records it), else the received one.
    request
        .context
        .set_trace(Some(spans::outgoing_trace(&span).unwrap_or(trace)));
    let started = std::time::Instant::now();
    let _in_flight = telemetry::InFlight::start(descriptor.name);
    if let Err(error) = super::kwargs::check(method, request) {
        if wants_reply {
            tracing::warn!(%topic, method = method.name, request_id = request.context.request_id(), %error, "request refused");
        }
        telemetry::request_done(
            descriptor.name,
            method.name,
            error.kind(),
            started.elapsed(),
        );
        return Outcome::Reply(Some(ReplyBody::Failure(error)));
    }
    let dispatch = service.dispatch(Request {
        method,
        context: &request.context,
        body: &request.body,
        codec: &request.codec,
    });
    let response = match AssertUnwindSafe(dispatch)
        .catch_unwind()
        .instrument(span.clone())
        .await
    {
        Ok(Response(Outcome::Reply(reply))) => reply,
        Ok(Response(Outcome::Stream(frames))) => {
            telemetry::request_done(descriptor.name, method.name, "ok", started.elapsed());
            return Outcome::Stream(frames);
        }
        Err(panic) => {
            let text = panic_message(&*panic);
            tracing::error!(%topic, method = method.name, panic = %text, "the manager panicked");
            let detail = if show_panics {
                format!("panicked: {text}")
            } else {
                "the manager panicked (its message is in the server's log)".to_owned()
            };
            Some(ReplyBody::Failure(RpcError::Internal {
                method: method.name.to_owned(),
                detail,
            }))
        }
    };
    // A failed cast nobody waits for is said once, by the caller of this.
    if let (Some(ReplyBody::Failure(error)), true) = (&response, wants_reply) {
        tracing::warn!(%topic, method = method.name, request_id = request.context.request_id(), %error, "request failed");
    }
    let outcome = telemetry::outcome(response.as_ref());
    if outcome != "ok" {
        spans::failed(&span, outcome);
    }
    let took = started.elapsed();
    telemetry::request_done(descriptor.name, method.name, outcome, took);
    if let Some(server) = server {
        server
            .stats
            .record(descriptor.name, method.name, outcome == "ok", took);
    }
    Outcome::Reply(match method.kind {
        MethodKind::Call | MethodKind::Stream => response,
        MethodKind::Cast => match response {
            Some(ReplyBody::Failure(error)) => Some(ReplyBody::Failure(error)),
            _ if wants_reply => request.codec.encode(&()).ok().map(ReplyBody::Value),
            _ => None,
        },
    })
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic".to_owned())
}
