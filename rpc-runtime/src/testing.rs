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
use crate::error::RpcError;
use crate::future::BoxFuture;
use crate::message::Message;
use crate::server::dispatch::Handler;
use crate::server::state::ServerState;
use crate::service::Service;
use crate::transport::driver::{Confirm, Driver, Events, Listener, Publish, Subscribe};
use crate::transport::{Destination, Transport};
use crate::wire::{Wire, WireFormat};

const LOCAL_RPC_ONLY: &str =
    "the local test transport carries RPC only; use Transport::memory() for notifications";

/// A transport whose every call and cast goes straight to `service`.
///
/// Any topic and server name reach it; a request is handled as a server
/// handles it (built-in methods, checks, streams, heartbeats), in the
/// caller's task: a cast runs to completion before it returns. Servers
/// cannot listen on it.
pub fn local<S: Service>(service: S) -> Transport {
    let service: Arc<dyn Service> = Arc::new(service);
    Transport::with_driver(Wire::Native, |events| LocalDriver {
        service,
        server: Arc::new(ServerState::new("local", false)),
        // What the service sends back reaches this transport's callers.
        replies: Transport::with_driver(Wire::Native, |_| Replies(events)),
    })
}

/// Hands each request to the server's own handler.
struct LocalDriver {
    service: Arc<dyn Service>,
    server: Arc<ServerState>,
    /// The transport the handler answers through.
    replies: Transport,
}

impl Driver for LocalDriver {
    fn publish<'a>(
        &'a self,
        to: &'a Destination,
        message: Message,
        _how: Publish,
    ) -> BoxFuture<'a, Result<Confirm, RpcError>> {
        Box::pin(async move {
            let topic = match to {
                Destination::Topic { topic }
                | Destination::Server { topic, .. }
                | Destination::Fanout { topic } => topic,
                Destination::RoutingKey { .. } | Destination::Queue { .. } => {
                    return Err(RpcError::config(LOCAL_RPC_ONLY));
                }
            };
            let message = self.replies.wire().unseal(message)?;
            let handler = Arc::new(Handler::new(
                self.replies.clone(),
                topic,
                Arc::clone(&self.service),
                Arc::clone(&self.server),
            ));
            handler.handle(message).await;
            Ok(Confirm::Done(Ok(())))
        })
    }

    fn subscribe(&self, _spec: Subscribe) -> BoxFuture<'_, Result<Listener, RpcError>> {
        Box::pin(async {
            Err(RpcError::config(
                "a local test transport has no queues to listen on",
            ))
        })
    }

    fn declare(&self, _spec: Subscribe) -> BoxFuture<'_, Result<(), RpcError>> {
        Box::pin(async { Err(RpcError::config(LOCAL_RPC_ONLY)) })
    }

    fn reply_address(&self, _how: Publish) -> BoxFuture<'_, Result<String, RpcError>> {
        Box::pin(async { Ok(REPLY_ADDRESS.to_owned()) })
    }
}

impl fmt::Debug for LocalDriver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalDriver")
            .field("service", &self.service.descriptor().name)
            .finish()
    }
}

/// The reply address of a local transport's calls.
const REPLY_ADDRESS: &str = "local";

/// Carries the handler's replies, heartbeats and stream items to the
/// calling transport.
#[derive(Debug)]
struct Replies(Events);

impl Driver for Replies {
    fn publish<'a>(
        &'a self,
        to: &'a Destination,
        message: Message,
        _how: Publish,
    ) -> BoxFuture<'a, Result<Confirm, RpcError>> {
        Box::pin(async move {
            match to {
                Destination::Queue { name } if name == REPLY_ADDRESS => {
                    self.0.reply(message);
                    Ok(Confirm::Done(Ok(())))
                }
                _ => Err(RpcError::config(LOCAL_RPC_ONLY)),
            }
        })
    }

    fn subscribe(&self, _spec: Subscribe) -> BoxFuture<'_, Result<Listener, RpcError>> {
        Box::pin(async { Err(RpcError::config(LOCAL_RPC_ONLY)) })
    }

    fn declare(&self, _spec: Subscribe) -> BoxFuture<'_, Result<(), RpcError>> {
        Box::pin(async { Err(RpcError::config(LOCAL_RPC_ONLY)) })
    }

    fn reply_address(&self, _how: Publish) -> BoxFuture<'_, Result<String, RpcError>> {
        Box::pin(async { Ok(REPLY_ADDRESS.to_owned()) })
    }
}

/// Wraps `inner` so that every request sent through the returned transport
/// is kept in the [`Recording`], then passed on.
pub fn record(inner: Transport) -> (Transport, Recording) {
    let recording = Recording::default();
    let kept = recording.clone();
    let codec = *inner.wire().codec();
    let wire = inner
        .wire()
        .with_max_size(crate::codec::DEFAULT_MAX_MESSAGE_SIZE);
    let recorder = move |destination: &Destination, message: &Message, call: bool| {
        kept.keep(&*wire, codec, call, destination, message);
    };
    (inner.with_recorder(Arc::new(recorder)), recording)
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
    /// Keeps a request, unsealed, as sent to `destination`.
    fn keep(
        &self,
        wire: &dyn WireFormat,
        codec: AnyCodec,
        call: bool,
        destination: &Destination,
        message: &Message,
    ) {
        let Ok(request) = wire.decode_request(message.clone()) else {
            return;
        };
        let sent = SentRequest {
            kind: if call { Sent::Call } else { Sent::Cast },
            destination: destination.clone(),
            method: request.method,
            version: request.version,
            context: request.context,
            body: request.body,
            codec,
        };
        self.sent
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(sent);
    }

    /// Everything sent so far.
    pub fn requests(&self) -> Vec<SentRequest> {
        self.sent.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Forgets what was recorded.
    pub fn clear(&self) {
        self.sent.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }
}
