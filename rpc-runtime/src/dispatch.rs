//! Running one request against a service: decode, check, dispatch, catch a
//! panic. Shared by the server and the direct test transport.

use std::panic::AssertUnwindSafe;
use std::time::SystemTime;

use futures_util::FutureExt;
use tracing::Instrument;

use crate::builtin::{self, ServerFacts, ServiceDescription};
use crate::codec::{AnyCodec, Codec};
use crate::descriptor::MethodKind;
use crate::error::RpcError;
use crate::message::Message;
use crate::service::{Request, Response, Service};
use crate::trace::TraceParent;
use crate::version;
use crate::wire::{IncomingRequest, ReplyBody, WireFormat};

/// What to send back, in which codec.
#[derive(Debug)]
pub(crate) struct Answer {
    /// `None` when nothing is to be sent back.
    pub(crate) reply: Option<ReplyBody>,
    /// The request's codec (the wire's default if it could not be read).
    pub(crate) codec: AnyCodec,
}

/// Decodes, checks and runs one request. `server` gives the facts the
/// built-in `ping` answers with, when asked (without it, `ping` is an
/// unknown method). A manager's panic is logged with its message; the
/// caller gets the message only with `show_panics`.
pub(crate) async fn respond(
    service: &dyn Service,
    wire: &dyn WireFormat,
    topic: &str,
    message: Message,
    server: Option<&(dyn Fn() -> ServerFacts + Sync)>,
    show_panics: bool,
) -> Answer {
    let request = match wire.decode_request(message) {
        Ok(request) => request,
        Err(error) => {
            return Answer {
                reply: Some(ReplyBody::Failure(error)),
                codec: *wire.codec(),
            };
        }
    };
    let codec = request.codec;
    let reply = run(service, topic, request, server, show_panics).await;
    Answer { reply, codec }
}

async fn run(
    service: &dyn Service,
    topic: &str,
    mut request: IncomingRequest,
    server: Option<&(dyn Fn() -> ServerFacts + Sync)>,
    show_panics: bool,
) -> Option<ReplyBody> {
    let descriptor = service.descriptor();
    let builtin = match (request.method.as_str(), server) {
        (builtin::PING, Some(server)) => {
            Some(request.codec.encode(&server().ping(topic, descriptor)))
        }
        (builtin::DESCRIBE, _) => Some(request.codec.encode(&ServiceDescription::from(descriptor))),
        _ => None,
    };
    if let Some(encoded) = builtin {
        return Some(match encoded {
            Ok(body) => ReplyBody::Value(body),
            Err(error) => ReplyBody::Failure(RpcError::Internal {
                method: request.method,
                detail: error.to_string(),
            }),
        });
    }
    if let Some(requested) = &request.version {
        if !version::is_compatible(descriptor.version, requested) {
            return Some(ReplyBody::Failure(version::unsupported(
                topic,
                descriptor.version,
                requested,
            )));
        }
    }
    if request.namespace.as_deref() != descriptor.namespace {
        return Some(ReplyBody::Failure(RpcError::WrongNamespace {
            topic: topic.to_owned(),
            requested: request.namespace,
            served: descriptor.namespace.map(str::to_owned),
        }));
    }
    // As oslo's dispatcher: a compatible version first, then the method.
    let Some(method) = descriptor.method(&request.method) else {
        return Some(ReplyBody::Failure(RpcError::UnknownMethod {
            topic: topic.to_owned(),
            method: request.method,
        }));
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
        return None;
    }
    // A caller without a trace sends none: the trace starts here, and
    // onward calls made with this context continue it.
    let received = request.context.trace().copied();
    let trace = received.unwrap_or_else(TraceParent::new_trace);
    request.context.set_trace(Some(trace));
    let (trace_id, parent_span_id) = trace.ids();
    let span = tracing::info_span!(
        "rpc",
        topic = %topic,
        method = method.name,
        request_id = request.context.request_id(),
        trace_id = %trace_id,
        parent_span_id = received.is_some().then_some(tracing::field::display(parent_span_id)),
    );
    let dispatch = service.dispatch(Request {
        method,
        context: &request.context,
        body: &request.body,
        codec: &request.codec,
    });
    let response = match AssertUnwindSafe(dispatch)
        .catch_unwind()
        .instrument(span)
        .await
    {
        Ok(Response(reply)) => reply,
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
    match method.kind {
        MethodKind::Call => response,
        MethodKind::Cast => response.filter(|r| matches!(r, ReplyBody::Failure(_))),
    }
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic".to_owned())
}
