//! Helpers for testing managers and their callers without a broker.
//!
//! - [`local`]: a transport wired straight to one service: a client built on
//!   it calls the manager in the caller's task, with no broker and no server
//!   task, but still through the codec and the wire format.
//! - [`record`]: wraps a transport and keeps every request sent through it,
//!   to assert that a caller called or cast the right thing.
//!
//! ```
//! use rpc_runtime::testing;
//! # use rpc_runtime::{rpc_service, Context};
//! # #[rpc_service(topic = "volume")]
//! # pub trait VolumeManager {
//! #     async fn size(&self, ctx: &Context, id: u64) -> u32;
//! #     #[rpc(cast)]
//! #     async fn delete(&self, ctx: &Context, id: u64);
//! # }
//! # struct Manager;
//! # impl VolumeManager for Manager {
//! #     async fn size(&self, _: &Context, id: u64) -> u32 { id as u32 * 10 }
//! #     async fn delete(&self, _: &Context, _: u64) {}
//! # }
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let client = VolumeManagerClient::new(&testing::local(VolumeManagerService::new(Manager)));
//! assert_eq!(client.size(&Context::new(), 4).await, Ok(40));
//!
//! let (transport, sent) = testing::record(testing::local(VolumeManagerService::new(Manager)));
//! VolumeManagerClient::new(&transport).to_server("host-1").delete(&Context::new(), 7).await.unwrap();
//! let request = &sent.requests()[0];
//! assert_eq!((request.method.as_str(), request.args::<(u64,)>().unwrap()), ("delete", (7,)));
//! # }
//! ```

use std::fmt;
use std::sync::{Arc, Mutex};

use serde::de::DeserializeOwned;

use crate::codec::{AnyCodec, Codec, CodecError};
use crate::context::Context;
use crate::dispatch::respond;
use crate::error::RpcError;
use crate::message::Message;
use crate::pending::{PendingCall, PendingCalls};
use crate::service::Service;
use crate::transport::{
    BoxFuture, Confirm, Destination, Driver, ListenSpec, Listener, Patience, QueueSpec, Transport,
};

const LOCAL_RPC_ONLY: &str =
    "the local test transport carries RPC only; use Transport::memory() for notifications";
use crate::wire::{NativeWire, WireFormat};

/// A transport whose every call and cast goes straight to `service`.
///
/// Any topic and server name reach it; a cast runs to completion before it
/// returns. Servers cannot listen on it.
pub fn local<S: Service>(service: S) -> Transport {
    let wire = NativeWire::default();
    let driver = LocalDriver {
        service: Arc::new(service),
        wire: wire.clone(),
        pending: Arc::new(PendingCalls::default()),
    };
    Transport::from_parts(Arc::new(driver), Arc::new(wire))
}

struct LocalDriver {
    service: Arc<dyn Service>,
    wire: NativeWire,
    pending: Arc<PendingCalls>,
}

impl LocalDriver {
    fn topic(destination: &Destination) -> &str {
        match destination {
            Destination::Topic { topic }
            | Destination::Server { topic, .. }
            | Destination::Fanout { topic } => topic,
            Destination::RoutingKey { key } => key,
            Destination::Queue { name } => name,
        }
    }
}

impl Driver for LocalDriver {
    fn call(
        &self,
        destination: Destination,
        message: Message,
        _patience: Patience,
    ) -> BoxFuture<'_, Result<PendingCall, RpcError>> {
        Box::pin(async move {
            let call = self.pending.register();
            let topic = Self::topic(&destination);
            // With no reply (the request's deadline passed), the caller times out.
            let answer = respond(&*self.service, &self.wire, topic, message, None, false).await;
            if let Some(reply) = answer.reply {
                let message = self.wire.encode_reply(reply, &answer.codec);
                self.pending.complete(&call.correlation_id(), Ok(message));
            }
            Ok(call)
        })
    }

    fn cast(
        &self,
        destination: Destination,
        message: Message,
        _patience: Patience,
    ) -> BoxFuture<'_, Result<Confirm, RpcError>> {
        Box::pin(async move {
            if matches!(
                destination,
                Destination::RoutingKey { .. } | Destination::Queue { .. }
            ) {
                return Err(RpcError::config(LOCAL_RPC_ONLY));
            }
            let topic = Self::topic(&destination);
            let answer = respond(&*self.service, &self.wire, topic, message, None, false).await;
            if let Some(crate::wire::ReplyBody::Failure(error)) = answer.reply {
                tracing::warn!(%error, "a local cast failed");
            }
            Ok(Confirm::Done(Ok(())))
        })
    }

    fn listen(&self, _spec: ListenSpec) -> BoxFuture<'_, Result<Listener, RpcError>> {
        Box::pin(async {
            Err(RpcError::config(
                "a local test transport has no queues to listen on",
            ))
        })
    }

    fn declare_queue(&self, _spec: QueueSpec) -> BoxFuture<'_, Result<(), RpcError>> {
        Box::pin(async { Err(RpcError::config(LOCAL_RPC_ONLY)) })
    }

    fn consume(
        &self,
        _queues: Vec<QueueSpec>,
        _prefetch: u16,
    ) -> BoxFuture<'_, Result<Listener, RpcError>> {
        Box::pin(async { Err(RpcError::config(LOCAL_RPC_ONLY)) })
    }

    fn reply(&self, _reply_to: String, _message: Message) -> BoxFuture<'_, Result<(), RpcError>> {
        Box::pin(async { Ok(()) })
    }

    fn close(&self) -> BoxFuture<'_, ()> {
        Box::pin(async {})
    }

    fn pending_calls(&self) -> usize {
        self.pending.len()
    }
}

impl fmt::Debug for LocalDriver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalDriver")
            .field("service", &self.service.descriptor().name)
            .finish()
    }
}

/// Wraps `inner` so that every request sent through the returned transport
/// is kept in the [`Recording`], then passed on.
pub fn record(inner: Transport) -> (Transport, Recording) {
    let recording = Recording::default();
    let wire = inner.shared_wire();
    let driver = RecordingDriver {
        inner,
        recording: recording.clone(),
        wire: Arc::clone(&wire),
    };
    (Transport::from_parts(Arc::new(driver), wire), recording)
}

/// Whether a recorded request was a call or a cast.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sent {
    /// The caller waited for a reply.
    Call,
    /// One-way.
    Cast,
}

/// One request a client sent.
#[derive(Debug, Clone)]
pub struct SentRequest {
    /// Call or cast.
    pub kind: Sent,
    /// Where it went.
    pub destination: Destination,
    /// The method.
    pub method: String,
    /// The version it asked for.
    pub version: Option<String>,
    /// The context it carried.
    pub context: Context,
    body: Vec<u8>,
    codec: AnyCodec,
}

impl SentRequest {
    /// Decodes the arguments as a tuple of their types, in order:
    /// `request.args::<(String, u32)>()` for `(name: String, size_gb: u32)`.
    /// On the oslo wire they are a JSON object by name instead: decode them
    /// into a struct with the same field names, or a `serde_json::Value`.
    pub fn args<T: DeserializeOwned>(&self) -> Result<T, CodecError> {
        self.codec.decode(&self.body)
    }
}

/// The requests a [`record`]ed transport sent, in order.
#[derive(Debug, Clone, Default)]
pub struct Recording {
    sent: Arc<Mutex<Vec<SentRequest>>>,
}

impl Recording {
    /// Everything sent so far.
    pub fn requests(&self) -> Vec<SentRequest> {
        self.sent.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Forgets what was recorded.
    pub fn clear(&self) {
        self.sent.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }
}

#[derive(Debug)]
struct RecordingDriver {
    inner: Transport,
    recording: Recording,
    wire: Arc<dyn WireFormat>,
}

impl RecordingDriver {
    fn keep(&self, kind: Sent, destination: &Destination, message: &Message) {
        let Ok(request) = self.wire.decode_request(message.clone()) else {
            return;
        };
        let sent = SentRequest {
            kind,
            destination: destination.clone(),
            method: request.method,
            version: request.version,
            context: request.context,
            body: request.body,
            codec: *self.wire.codec(),
        };
        self.recording
            .sent
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(sent);
    }
}

impl Driver for RecordingDriver {
    fn call(
        &self,
        destination: Destination,
        message: Message,
        patience: Patience,
    ) -> BoxFuture<'_, Result<PendingCall, RpcError>> {
        self.keep(Sent::Call, &destination, &message);
        self.inner.driver().call(destination, message, patience)
    }

    fn cast(
        &self,
        destination: Destination,
        message: Message,
        patience: Patience,
    ) -> BoxFuture<'_, Result<Confirm, RpcError>> {
        self.keep(Sent::Cast, &destination, &message);
        self.inner.driver().cast(destination, message, patience)
    }

    fn listen(&self, spec: ListenSpec) -> BoxFuture<'_, Result<Listener, RpcError>> {
        self.inner.driver().listen(spec)
    }

    fn reply(&self, reply_to: String, message: Message) -> BoxFuture<'_, Result<(), RpcError>> {
        self.inner.driver().reply(reply_to, message)
    }

    fn declare_queue(&self, spec: QueueSpec) -> BoxFuture<'_, Result<(), RpcError>> {
        self.inner.driver().declare_queue(spec)
    }

    fn consume(
        &self,
        queues: Vec<QueueSpec>,
        prefetch: u16,
    ) -> BoxFuture<'_, Result<Listener, RpcError>> {
        self.inner.driver().consume(queues, prefetch)
    }

    fn close(&self) -> BoxFuture<'_, ()> {
        self.inner.driver().close()
    }

    fn pending_calls(&self) -> usize {
        self.inner.driver().pending_calls()
    }
}
