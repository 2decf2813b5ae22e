//! Streaming replies: a method that returns [`RpcStream<T, E>`] sends its
//! items one by one, and the caller reads them as a `Stream` of
//! `Result<T, E>`: a list of 100k volumes without one huge reply, a
//! migration's progress, a log tail.
//!
//! ```
//! use rpc_runtime::{Context, RpcError, RpcStream, rpc_service};
//!
//! #[rpc_service(topic = "inventory")]
//! pub trait Inventory {
//!     /// Every volume, one by one.
//!     async fn volumes(&self, ctx: &Context, first: u32) -> RpcStream<u32, RpcError>;
//! }
//!
//! struct Hosts;
//!
//! impl Inventory for Hosts {
//!     async fn volumes(&self, _ctx: &Context, first: u32) -> RpcStream<u32, RpcError> {
//!         RpcStream::iter((first..first + 3).map(Ok))
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), RpcError> {
//! let transport = rpc_runtime::Transport::memory();
//! let server = rpc_runtime::Server::builder(&transport, "host-1")
//!     .serve(InventoryService::new(Hosts))
//!     .start()
//!     .await?;
//! let mut volumes = InventoryClient::new(&transport).volumes(&Context::new(), 7).await;
//! let mut seen = Vec::new();
//! while let Some(volume) = volumes.next().await {
//!     seen.push(volume?);
//! }
//! assert_eq!(seen, [7, 8, 9]);
//! # server.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! **On the wire** (native wire only; a server refuses to serve a
//! streaming method on the oslo wire): each item is a reply to the caller's
//! reply queue with the call's `correlation_id`, AMQP `type` `item`, its
//! body the item's sequence number (8 bytes, little endian) and the encoded
//! item; the stream ends with `type` `end` (body: the item count), or with
//! an `error` or `failure` reply whose body starts with its sequence number.
//! Each message names the server in `reply_to`. The client puts items back
//! in order and fails the stream on a gap.
//!
//! **Flow control**: the server sends at most [`INITIAL_CREDIT`] items
//! before the caller grants more; the caller grants [`GRANT`] more (a
//! `_stream_credit` cast to the server's `topic.server` queue) each time it
//! has taken that many. A slow reader thus never fills RabbitMQ or either
//! process's memory. **Cancellation**: dropping the caller's stream sends
//! `_stream_cancel`; the server drops the manager's stream. A stream dropped
//! before its first item cannot say so (the caller does not know yet which
//! server took it): that server stops after its first credit and gives up
//! at the call's deadline. **Deadlines**:
//! the call's timeout bounds the whole stream, and its call monitor too
//! (the server sends heartbeats while the stream is idle); a server that
//! dies mid-stream ends the caller's stream with `Unresponsive` (call
//! monitor) or `Timeout`.

mod client;
pub(crate) mod frames;

use std::fmt;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use futures_util::Stream;

pub(crate) use self::client::{Opened, open};

/// Items the server sends before the caller grants more.
pub const INITIAL_CREDIT: u32 = 64;
/// Items the caller grants at a time, once it has taken as many.
pub const GRANT: u32 = 32;
/// The built-in method granting a stream more items: `(correlation id, n)`.
pub const STREAM_CREDIT: &str = "_stream_credit";
/// The built-in method stopping a stream: `(correlation id,)`.
pub const STREAM_CANCEL: &str = "_stream_cancel";

/// A stream of `Result<T, E>`: what a streaming method returns on both
/// sides. The manager builds one from any `Stream` ([`RpcStream::new`]) or
/// iterator ([`RpcStream::iter`]); the caller reads one.
pub struct RpcStream<T, E> {
    inner: Pin<Box<dyn Stream<Item = Result<T, E>> + Send>>,
}

impl<T, E> RpcStream<T, E> {
    /// The items of `stream`.
    pub fn new(stream: impl Stream<Item = Result<T, E>> + Send + 'static) -> Self {
        Self {
            inner: Box::pin(stream),
        }
    }

    /// The items of `items`.
    pub fn iter<I>(items: I) -> Self
    where
        I: IntoIterator<Item = Result<T, E>>,
        I::IntoIter: Send + 'static,
        T: 'static,
        E: 'static,
    {
        Self::new(futures_util::stream::iter(items))
    }

    /// The next item, or `None` after the last (no `StreamExt` import
    /// needed).
    pub async fn next(&mut self) -> Option<Result<T, E>> {
        futures_util::StreamExt::next(self).await
    }

    /// A stream that fails at once with `error`.
    pub fn failed(error: E) -> Self
    where
        T: Send + 'static,
        E: Send + 'static,
    {
        Self::new(futures_util::stream::iter([Err(error)]))
    }
}

impl<T, E> Stream for RpcStream<T, E> {
    type Item = Result<T, E>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Option<Self::Item>> {
        self.inner.as_mut().poll_next(cx)
    }
}

impl<T, E> fmt::Debug for RpcStream<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RpcStream")
    }
}
