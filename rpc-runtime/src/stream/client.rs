//! The caller's side of a stream: reads the items of one call in order,
//! grants credit as it takes them, watches the deadline and the call
//! monitor, and tells the server when it is dropped.

use std::collections::BTreeMap;
use std::time::Duration;

use tokio::time::Instant;

use super::frames::{self, Frame};
use super::{GRANT, INITIAL_CREDIT, RpcStream, STREAM_CANCEL, STREAM_CREDIT};
use crate::codec::{AnyCodec, Codec};
use crate::context::Context;
use crate::error::{Awaited, RpcError};
use crate::message::Message;
use crate::options::CallOptions;
use crate::transport::pending::PendingCall;
use crate::transport::{Destination, Transport};
use crate::wire::{OutgoingRequest, ReplyBody};

/// A stream's call, once its request is sent.
pub(crate) struct Opened<T, E> {
    pub(crate) transport: Transport,
    pub(crate) call: PendingCall,
    pub(crate) method: String,
    pub(crate) topic: String,
    pub(crate) namespace: Option<&'static str>,
    pub(crate) timeout: Duration,
    pub(crate) monitor: Option<Duration>,
    pub(crate) decode_item: fn(&AnyCodec, &[u8]) -> Result<T, E>,
    /// The last item, from an `error` or `failure` frame (typed: `Err`).
    pub(crate) decode_end: fn(&AnyCodec, ReplyBody) -> Result<T, E>,
    pub(crate) fail: fn(RpcError) -> E,
}

/// The items of `opened`'s call, as a stream.
pub(crate) fn open<T: Send + 'static, E: Send + 'static>(opened: Opened<T, E>) -> RpcStream<T, E> {
    let now = Instant::now();
    let state = Receiving {
        deadline: now + opened.timeout,
        silent_until: opened.monitor.map(|m| now + m),
        opened,
        expected: 0,
        early: BTreeMap::new(),
        taken: 0,
        server: None,
        done: false,
    };
    RpcStream::new(futures_util::stream::unfold(
        state,
        |mut state| async move {
            let item = state.next().await?;
            Some((item, state))
        },
    ))
}

struct Receiving<T, E> {
    opened: Opened<T, E>,
    deadline: Instant,
    silent_until: Option<Instant>,
    /// The sequence number of the next item to hand out.
    expected: u64,
    /// Frames that arrived before their turn.
    early: BTreeMap<u64, (Frame, AnyCodec)>,
    /// Items taken since the last grant.
    taken: u32,
    /// The server sending the stream, once a frame named it.
    server: Option<String>,
    done: bool,
}

impl<T, E> Receiving<T, E> {
    async fn next(&mut self) -> Option<Result<T, E>> {
        if self.done {
            return None;
        }
        loop {
            if let Some((frame, codec)) = self.early.remove(&self.expected) {
                return self.take(frame, &codec);
            }
            let message = match self.receive().await {
                Ok(message) => message,
                Err(error) => return self.finish(Some(Err((self.opened.fail)(error)))),
            };
            if self.opened.transport.wire().is_heartbeat(&message) {
                self.silent_until = self.opened.monitor.map(|m| Instant::now() + m);
                continue;
            }
            if self.server.is_none() {
                self.server.clone_from(&message.reply_to);
            }
            let codec = self.codec(&message);
            let (seq, frame) = match frames::decode(self.opened.transport.wire(), message) {
                Ok(decoded) => decoded,
                Err(error) => return self.finish(Some(Err((self.opened.fail)(error)))),
            };
            if seq == self.expected {
                return self.take(frame, &codec);
            }
            if seq > self.expected {
                self.early.insert(seq, (frame, codec));
                if self.early.len() > INITIAL_CREDIT as usize * 4 {
                    let gap = RpcError::Decode {
                        what: format!("the stream of `{}`", self.opened.method),
                        detail: format!("item {} never arrived", self.expected),
                    };
                    return self.finish(Some(Err((self.opened.fail)(gap))));
                }
            }
        }
    }

    /// The next message of the call, within the deadline and call monitor.
    async fn receive(&mut self) -> Result<Message, RpcError> {
        let wake = self
            .silent_until
            .map_or(self.deadline, |s| s.min(self.deadline));
        match tokio::time::timeout_at(wake, self.opened.call.next()).await {
            Ok(message) => message,
            Err(_) if Instant::now() >= self.deadline => Err(self.opened.transport.timed_out(
                &self.opened.method,
                self.opened.topic.clone(),
                self.opened.timeout,
                Awaited::Reply,
            )),
            Err(_) => Err(RpcError::Unresponsive {
                method: self.opened.method.clone(),
                silence: self.opened.monitor.unwrap_or_default(),
            }),
        }
    }

    fn codec(&self, message: &Message) -> AnyCodec {
        let wire = self.opened.transport.wire().codec();
        wire.for_content_type(message.content_type.as_deref())
            .unwrap_or(*wire)
    }

    /// Hands out frame number `expected`.
    fn take(&mut self, frame: Frame, codec: &AnyCodec) -> Option<Result<T, E>> {
        match frame {
            Frame::Item(body) => {
                self.expected += 1;
                self.taken += 1;
                if self.taken >= GRANT {
                    self.taken = 0;
                    self.control(STREAM_CREDIT, Some(GRANT));
                }
                Some((self.opened.decode_item)(codec, &body))
            }
            Frame::End => self.finish(None),
            Frame::Failed(reply) => {
                let last = (self.opened.decode_end)(codec, reply);
                self.finish(Some(last))
            }
        }
    }

    fn finish(&mut self, last: Option<Result<T, E>>) -> Option<Result<T, E>> {
        self.done = true;
        last
    }

    /// Casts a credit grant or a cancel to the server, from its own task.
    fn control(&self, method: &'static str, credit: Option<u32>) {
        let Some(server) = self.server.clone() else {
            return;
        };
        let transport = self.opened.transport.clone();
        let id = self.opened.call.correlation_id();
        let wire = transport.wire();
        let body = match credit {
            Some(n) => wire.codec().encode(&(id, n)),
            None => wire.codec().encode(&(id,)),
        };
        let Ok(body) = body else {
            return;
        };
        let message = wire.encode_request(OutgoingRequest {
            method: method.into(),
            version: "1.0",
            namespace: self.opened.namespace,
            context: &Context::new(),
            trace: None,
            options: &CallOptions::default(),
            body,
        });
        let destination = Destination::Server {
            topic: self.opened.topic.clone(),
            server,
        };
        let timeout = self.opened.timeout;
        // Dropped after the runtime ended: nobody to tell.
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        runtime.spawn(async move {
            if let Err(error) = transport
                .cast_named(
                    method,
                    &destination,
                    message,
                    &CallOptions::new().timeout(timeout),
                )
                .await
            {
                tracing::debug!(%error, method, "could not reach a stream's server");
            }
        });
    }
}

impl<T, E> Drop for Receiving<T, E> {
    fn drop(&mut self) {
        if !self.done {
            self.control(STREAM_CANCEL, None);
        }
    }
}
