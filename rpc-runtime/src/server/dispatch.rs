//! One request taken from a queue: decoded, answered (see `run.rs`), and
//! the answer sent back when the caller waits, with heartbeats while it
//! runs; a stream's items go out from a task of their own.

use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;

use super::run::{builtin, checked_run};
use super::state::{InFlight, ServerState};
use super::streams;
use crate::codec::AnyCodec;
use crate::error::RpcError;
use crate::message::Message;
use crate::service::{Outcome, Service};
use crate::telemetry;
use crate::transport::{Destination, Transport};
use crate::wire::{IncomingRequest, ReplyBody};

/// Runs the requests of one service on one topic.
pub(crate) struct Handler {
    pub(super) transport: Transport,
    pub(super) topic: Arc<str>,
    service: Arc<dyn Service>,
    /// The server's name, start and load, for `ping`.
    server: Arc<ServerState>,
}

impl Handler {
    /// The handler of `service`'s requests on `topic`, replying through
    /// `transport`, for the server `server`.
    pub(crate) fn new(
        transport: Transport,
        topic: &str,
        service: Arc<dyn Service>,
        server: Arc<ServerState>,
    ) -> Self {
        Self {
            transport,
            topic: Arc::from(topic),
            service,
            server,
        }
    }

    /// Runs one request, then sends its reply (and, while it runs,
    /// heartbeats) when the caller waits for one. The request is decoded
    /// here, before the returned future: the future holds only the decoded
    /// request, once, not the message it came from (each request in flight
    /// costs what its future holds).
    pub(crate) fn handle(
        self: &Arc<Self>,
        mut message: Message,
    ) -> impl Future<Output = ()> + Send + 'static {
        let this = Arc::clone(self);
        let wire = self.transport.wire();
        // Moved out: decoding the request reads neither.
        let mut reply_to = message.reply_to.take();
        let mut correlation_id = message.correlation_id.take();
        let received_at = message.received_at;
        let mut decoded = wire.decode_request(message);
        if let Ok(request) = &mut decoded {
            request.start_deadline(received_at);
        }
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
        let heartbeats = match (&*reply_to, request.options.call_monitor) {
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
                    wire.system(),
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
struct Answer {
    /// `None` when nothing is to be sent back.
    reply: Option<ReplyBody>,
    /// The request's codec (the wire's default if it could not be read).
    codec: AnyCodec,
}
