//! The server side of a service: what a generated `FooService<M>` implements
//! so the runtime's [`Server`](crate::Server) can drive it.
//!
//! The runtime has already read the request's headers, found the method in
//! the [`ServiceDescriptor`] and checked its version when it calls
//! [`Service::dispatch`]; the service decodes the arguments, runs the
//! manager's method and encodes what it returned.

use std::fmt;

use crate::args::ArgNames;
use crate::codec::AnyCodec;
use crate::context::Context;
use crate::descriptor::{MethodDescriptor, ServiceDescriptor};
use crate::error::RpcError;
use crate::server::streams::Frames;
use crate::stream::RpcStream;
use crate::typed::{DecodeArgs, MethodTypes, StreamTypes};
use crate::wire::ReplyBody;

use crate::future::BoxFuture;

/// A service the runtime can serve: a descriptor and a dispatcher.
pub trait Service: Send + Sync + 'static {
    /// What the service is: topic, version, methods.
    fn descriptor(&self) -> &'static ServiceDescriptor;

    /// Runs one request. Never panics on bad input: an undecodable argument
    /// body becomes a [`Response`] carrying the error.
    fn dispatch<'a>(&'a self, request: Request<'a>) -> BoxFuture<'a, Response>;
}

/// One request, as handed to [`Service::dispatch`].
pub struct Request<'a> {
    pub(crate) method: &'static MethodDescriptor,
    pub(crate) context: &'a Context,
    pub(crate) body: &'a [u8],
    pub(crate) codec: &'a AnyCodec,
}

impl<'a> Request<'a> {
    /// The method's name.
    pub fn method(&self) -> &'static str {
        self.method.name
    }

    /// The caller's context.
    pub fn context(&self) -> &'a Context {
        self.context
    }

    /// Decodes the arguments; on failure, the response to send instead.
    pub fn decode_args<A, O, C>(&self, types: &MethodTypes<A, O, C>) -> Result<A, Response> {
        self.decode_with(types.names, types.decode_args)
    }

    fn decode_with<A>(&self, names: ArgNames, decode_args: DecodeArgs<A>) -> Result<A, Response> {
        decode_args(self.codec, names, self.body).map_err(|e| {
            Response::failure(RpcError::BadRequest {
                method: self.method.name.to_owned(),
                detail: format!("undecodable arguments: {e}"),
            })
        })
    }

    /// Decodes a streaming method's arguments; on failure, the response
    /// to send instead.
    pub fn decode_stream_args<A, T, E>(&self, types: &StreamTypes<A, T, E>) -> Result<A, Response> {
        self.decode_with(types.names, types.decode_args)
    }

    /// The response streaming what the manager's stream yields.
    pub fn respond_stream<A, T, E>(
        &self,
        types: &StreamTypes<A, T, E>,
        items: RpcStream<T, E>,
    ) -> Response {
        Response(Outcome::Stream((types.encode_stream)(
            *self.codec,
            self.method.name,
            items,
        )))
    }

    /// The response carrying what the manager returned.
    pub fn respond<A, O, C>(&self, types: &MethodTypes<A, O, C>, output: &O) -> Response {
        match (types.encode_output)(self.codec, output) {
            Ok(reply) => Response(Outcome::Reply(reply)),
            Err(error) => Response::failure(RpcError::Internal {
                method: self.method.name.to_owned(),
                detail: format!("the server could not encode the reply: {error}"),
            }),
        }
    }
}

impl fmt::Debug for Request<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Request")
            .field("method", &self.method.name)
            .field("context", self.context)
            .field("body_len", &self.body.len())
            .finish()
    }
}

/// What a service produced for a request: a reply body, nothing (casts),
/// or a stream of items.
pub struct Response(pub(crate) Outcome);

/// What [`Response`] holds.
pub(crate) enum Outcome {
    /// One reply, or none.
    Reply(Option<ReplyBody>),
    /// Items, sent as the caller grants credit.
    Stream(Frames),
}

impl Response {
    /// No reply (a cast).
    pub fn none() -> Self {
        Response(Outcome::Reply(None))
    }

    /// A framework failure reply.
    pub fn failure(error: RpcError) -> Self {
        Response(Outcome::Reply(Some(ReplyBody::Failure(error))))
    }
}

impl fmt::Debug for Response {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Outcome::Reply(reply) => f.debug_tuple("Response").field(reply).finish(),
            Outcome::Stream(_) => f.write_str("Response(stream)"),
        }
    }
}
