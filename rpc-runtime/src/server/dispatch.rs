//! One request: decode, check, dispatch, catch a panic ([`respond`], shared
//! with the direct test transport), then reply and, while it runs, send the
//! caller's heartbeats ([`Handler`]).

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use futures_util::FutureExt;
use tokio::task::JoinHandle;
use tracing::Instrument;

use crate::builtin::{self, ServerFacts, ServiceDescription};
use crate::codec::{AnyCodec, Codec};
use crate::descriptor::MethodKind;
use crate::error::RpcError;
use crate::message::Message;
use crate::service::{Outcome, Request, Response, Service};
use crate::stream;

use super::streams;
use crate::telemetry;
use crate::telemetry::spans;
use crate::trace::TraceParent;
use crate::transport::{Destination, Transport};
use crate::version;
use crate::wire::{IncomingRequest, ReplyBody, Wire, WireFormat};

/// What every service of one server shares about it.
#[derive(Debug)]
pub(crate) struct ServerState {
    name: String,
    started: std::time::Instant,
    /// Requests being handled, the asking one included.
    in_flight: AtomicUsize,
    /// Callers see a manager's panic message (development only).
    show_panics: bool,
    /// Per-method counts and latencies, for `ping`.
    stats: super::stats::Stats,
    /// The streams being sent.
    streams: Arc<streams::Streams>,
}

impl ServerState {
    pub(super) fn new(name: &str, show_panics: bool) -> Self {
        Self {
            name: name.to_owned(),
            started: std::time::Instant::now(),
            in_flight: AtomicUsize::new(0),
            show_panics,
            stats: super::stats::Stats::default(),
            streams: Arc::default(),
        }
    }

    /// The facts `ping` reports about `service`, not counting the ping
    /// itself.
    fn facts(&self, service: &str) -> ServerFacts {
        ServerFacts {
            name: self.name.clone(),
            started: self.started,
            in_flight: self.in_flight.load(Ordering::Relaxed).saturating_sub(1),
            methods: self.stats.of(service),
        }
    }
}

/// Counts a request as in flight while it lives.
struct InFlight<'a>(&'a AtomicUsize);

impl<'a> InFlight<'a> {
    fn new(counter: &'a AtomicUsize) -> Self {
        counter.fetch_add(1, Ordering::Relaxed);
        Self(counter)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Runs the requests of one service on one topic.
pub(super) struct Handler {
    pub(super) transport: Transport,
    pub(super) topic: Arc<str>,
    pub(super) service: Arc<dyn Service>,
    /// The server's name, start and load, for `ping`.
    pub(super) server: Arc<ServerState>,
}

impl Handler {
    /// Runs one request, then sends its reply (and, while it runs,
    /// heartbeats) when the caller waits for one. The request is decoded
    /// here, before the returned future: the future holds only the decoded
    /// request, once, not the message it came from (each request in flight
    /// costs what its future holds).
    pub(super) fn handle(
        self: &Arc<Self>,
        mut message: Message,
    ) -> impl Future<Output = ()> + Send + 'static {
        let this = Arc::clone(self);
        let wire = self.transport.wire();
        // Moved out: decoding the request reads neither.
        let mut reply_to = message.reply_to.take();
        let mut correlation_id = message.correlation_id.take();
        let mut decoded = wire.decode_request(message);
        async move {
            let _counted = InFlight::new(&this.server.in_flight);
            // All by reference: an `async fn` holds its arguments twice.
            this.respond(&mut decoded, &mut reply_to, &mut correlation_id)
                .await;
        }
    }

    async fn respond(
        &self,
        decoded: &mut Result<IncomingRequest, RpcError>,
        reply_to: &mut Option<String>,
        correlation_id: &mut Option<String>,
    ) {
        let wire = self.transport.wire();
        // Bound only once the answer is there: a binding assigned from a
        // `match` that waits would hold its room across the wait too.
        let Some(answer) = self.answer(decoded, reply_to, correlation_id).await else {
            return;
        };
        let Some(to) = reply_to.take() else {
            // Nobody waits for a cast's answer: a refusal is said here.
            if let Some(ReplyBody::Failure(error)) = &answer.reply {
                let (method, request_id) = decoded
                    .as_ref()
                    .map_or(("", ""), |r| (r.method.as_str(), r.context.request_id()));
                tracing::warn!(topic = %self.topic, method, request_id, %error, "a cast failed (its sender does not wait for an answer)");
                telemetry::cast_failed(error.kind());
            }
            return;
        };
        let to = Destination::Queue { name: to };
        // In a block of its own: the message is handed to the transport
        // before the wait, and not held across it.
        let sending = {
            let Some(reply) = answer.reply else {
                return;
            };
            let mut message = wire.encode_reply(reply, &answer.codec);
            if self.transport.check_size(&message).is_err() {
                let method = decoded.as_ref().map_or("", |r| r.method.as_str());
                let too_large = RpcError::Internal {
                    method: method.to_owned(),
                    detail: format!(
                        "the reply of {} bytes is over the message size limit",
                        message.body.len()
                    ),
                };
                message = wire.encode_reply(ReplyBody::Failure(too_large), &answer.codec);
            }
            message.correlation_id = correlation_id.take();
            self.transport.reply(&to, message)
        };
        if let Err(error) = sending.await {
            tracing::warn!(topic = %self.topic, %error, "could not send a reply");
        }
    }

    /// What to answer the request with; `None` when nothing is to be sent
    /// from here (a stream was started).
    async fn answer(
        &self,
        decoded: &mut Result<IncomingRequest, RpcError>,
        reply_to: &mut Option<String>,
        correlation_id: &mut Option<String>,
    ) -> Option<Answer> {
        let wire = self.transport.wire();
        // By reference: holding the request by value here too would hold
        // it twice across the manager's awaits.
        let request = match decoded {
            Err(error) => {
                return Some(Answer {
                    reply: Some(ReplyBody::Failure(error.clone())),
                    codec: *wire.codec(),
                });
            }
            Ok(request) => request,
        };
        let heartbeats = match (&*reply_to, request.call_monitor) {
            (Some(reply_to), Some(silence)) => {
                Some(self.heartbeats(silence, reply_to, correlation_id))
            }
            _ => None,
        };
        let codec = request.codec;
        let deadline = request.context.deadline();
        let show_panics = self.server.show_panics;
        let service = &*self.service;
        let wants_reply = reply_to.is_some();
        // `if let`, not `match`: the built-in's (empty) answer is
        // gone before the else branch waits, not held across it.
        let outcome =
            if let Some(outcome) = builtin(service, &self.topic, request, Some(&self.server)) {
                outcome
            } else {
                checked_run(
                    service,
                    wire.kind(),
                    &self.topic,
                    request,
                    Some(&self.server),
                    show_panics,
                    wants_reply,
                )
                .await
            };
        let reply = match outcome {
            Outcome::Reply(reply) => reply,
            Outcome::Stream(frames) => {
                let (Some(reply_to), Some(correlation_id)) =
                    (reply_to.take(), correlation_id.take())
                else {
                    return None;
                };
                let to = streams::Destination {
                    reply_to,
                    correlation_id,
                    server: self.server.name.clone(),
                    codec,
                    deadline,
                };
                let transport = self.transport.clone();
                let active = Arc::clone(&self.server.streams);
                // Its own task: a stream waiting for credit holds no
                // slot of the server's concurrency.
                tokio::spawn(async move {
                    streams::pump(transport, active, frames, to).await;
                    if let Some(heartbeats) = heartbeats {
                        heartbeats.abort();
                    }
                });
                return None;
            }
        };
        if let Some(heartbeats) = heartbeats {
            heartbeats.abort();
        }
        Some(Answer { reply, codec })
    }

    /// Sends a heartbeat every `silence / 2` (at least 250 ms apart, whatever
    /// the request asked) until aborted, from its own task so that a slow
    /// broker never stalls the manager.
    fn heartbeats(
        &self,
        silence: Duration,
        reply_to: &str,
        correlation_id: &Option<String>,
    ) -> JoinHandle<()> {
        let every = (silence / 2).max(Duration::from_millis(250));
        let transport = self.transport.clone();
        let to = Destination::Queue {
            name: reply_to.to_owned(),
        };
        let correlation_id = correlation_id.clone();
        tokio::spawn(async move {
            let mut beats = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
            loop {
                beats.tick().await;
                let mut beat = transport.wire().encode_heartbeat();
                beat.correlation_id.clone_from(&correlation_id);
                if let Err(error) = transport.reply(&to, beat).await {
                    tracing::debug!(%error, "could not send a heartbeat");
                    return;
                }
            }
        })
    }
}

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
    server: Option<&ServerState>,
    show_panics: bool,
) -> Answer {
    let mut request = match wire.decode_request(message) {
        Ok(request) => request,
        Err(error) => {
            return Answer {
                reply: Some(ReplyBody::Failure(error)),
                codec: *wire.codec(),
            };
        }
    };
    let codec = request.codec;
    let method = request.method.clone();
    let outcome = match builtin(service, topic, &request, server) {
        Some(outcome) => outcome,
        None => {
            checked_run(
                service,
                wire.kind(),
                topic,
                &mut request,
                server,
                show_panics,
                true,
            )
            .await
        }
    };
    let reply = match outcome {
        Outcome::Reply(reply) => reply,
        Outcome::Stream(_) => Some(ReplyBody::Failure(RpcError::config(format!(
            "`{method}` streams its reply: serve it on a transport (memory or AMQP)"
        )))),
    };
    Answer { reply, codec }
}

/// Answers the built-in methods (stream credit and cancel, `ping`,
/// `describe`) at once; `None` for any other request, for [`checked_run`].
/// A sync step of its own, so that the request is not held twice across
/// the manager's awaits (which would double what each request in flight
/// costs in memory).
fn builtin(
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
/// [`Handler`]).
async fn checked_run(
    service: &dyn Service,
    wire: Wire,
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
        wire,
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
