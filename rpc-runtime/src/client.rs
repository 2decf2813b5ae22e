//! The engine under every generated client: options chained like
//! oslo.messaging's `prepare()`, and the typed call and cast.
//!
//! A generated `FooClient` wraps a [`ClientCore`] and adds one typed method
//! per trait method; everything transport-related happens here.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::codec::Codec;
use crate::context::Context;
use crate::descriptor::{MethodDescriptor, ServiceDescriptor};
use crate::error::RpcError;
use crate::topology::check_name;
use crate::transport::{Destination, Transport};
use crate::version;
use crate::wire::{OutgoingRequest, ReplyBody};

/// How long a call waits for its reply unless told otherwise (oslo's
/// `rpc_response_timeout`).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// Transport, target and options of a client; cheap to clone.
#[derive(Clone)]
pub struct ClientCore {
    transport: Transport,
    service: &'static ServiceDescriptor,
    topic: Arc<str>,
    server: Option<Arc<str>>,
    timeout: Duration,
}

impl ClientCore {
    /// A client of `service` on its default topic, any server.
    pub fn new(transport: &Transport, service: &'static ServiceDescriptor) -> Self {
        Self {
            transport: transport.clone(),
            service,
            topic: service.topic.into(),
            server: None,
            timeout: DEFAULT_TIMEOUT,
        }
    }

    /// The same client, sending to one named server only.
    pub fn with_server(&self, server: impl Into<String>) -> Self {
        Self {
            server: Some(server.into().into()),
            ..self.clone()
        }
    }

    /// The same client with another reply timeout for calls.
    pub fn with_timeout(&self, timeout: Duration) -> Self {
        Self {
            timeout,
            ..self.clone()
        }
    }

    /// The same client on another topic (e.g. a second deployment of the service).
    pub fn with_topic(&self, topic: impl Into<String>) -> Self {
        Self {
            topic: topic.into().into(),
            ..self.clone()
        }
    }

    /// The topic requests go to.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// The server requests go to, if one was chosen.
    pub fn server(&self) -> Option<&str> {
        self.server.as_deref()
    }

    /// The reply timeout of calls.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The descriptor of the service this client talks to.
    pub fn service(&self) -> &'static ServiceDescriptor {
        self.service
    }

    fn destination(&self, fanout: bool) -> Result<Destination, RpcError> {
        check_name("topic", &self.topic)?;
        let topic = self.topic.to_string();
        if fanout {
            return Ok(Destination::Fanout { topic });
        }
        Ok(match &self.server {
            Some(server) => {
                check_name("server", server)?;
                Destination::Server {
                    topic,
                    server: server.to_string(),
                }
            }
            None => Destination::Topic { topic },
        })
    }

    fn request(
        &self,
        method: &MethodDescriptor,
        context: &Context,
        args: &(impl Serialize + ?Sized),
        deadline: Option<SystemTime>,
    ) -> Result<crate::message::Message, RpcError> {
        let wire = self.transport.wire();
        let body = wire.codec().encode(args).map_err(|e| RpcError::Encode {
            what: format!("the arguments of `{}`", method.name),
            detail: e.to_string(),
        })?;
        let version = version::required(self.service.version, method.since);
        Ok(wire.encode_request(OutgoingRequest {
            method: method.name,
            version: &version,
            context,
            deadline,
            body,
        }))
    }

    /// Sends a call and waits for its reply: `Ok(Ok(value))`, the manager's
    /// own error as `Ok(Err(error))`, or a framework failure as `Err`.
    pub async fn call<A, T, E>(
        &self,
        method: &'static MethodDescriptor,
        context: &Context,
        args: &A,
    ) -> Result<Result<T, E>, RpcError>
    where
        A: Serialize + ?Sized,
        T: DeserializeOwned,
        E: DeserializeOwned,
    {
        let destination = self.destination(false)?;
        let deadline = SystemTime::now() + self.timeout;
        let message = self.request(method, context, args, Some(deadline))?;
        let reply = match self.transport.call_raw(destination, message, self.timeout).await {
            Err(RpcError::Timeout { timeout, .. }) => {
                return Err(RpcError::Timeout {
                    method: method.name.to_owned(),
                    timeout,
                });
            }
            reply => reply?,
        };
        let wire = self.transport.wire();
        let decode = |what: &str, e: crate::codec::CodecError| RpcError::Decode {
            what: format!("the {what} of `{}`", method.name),
            detail: e.to_string(),
        };
        match wire.decode_reply(reply)? {
            ReplyBody::Value(body) => wire
                .codec()
                .decode(&body)
                .map(Ok)
                .map_err(|e| decode("reply", e)),
            ReplyBody::Error(body) => wire
                .codec()
                .decode(&body)
                .map(Err)
                .map_err(|e| decode("error", e)),
            ReplyBody::Failure(error) => Err(error),
        }
    }

    /// Sends a cast and returns once the broker confirmed it; with `fanout`,
    /// to every server of the topic.
    pub async fn cast<A>(
        &self,
        method: &'static MethodDescriptor,
        context: &Context,
        args: &A,
        fanout: bool,
    ) -> Result<(), RpcError>
    where
        A: Serialize + ?Sized,
    {
        let destination = self.destination(fanout)?;
        let message = self.request(method, context, args, None)?;
        self.transport.cast_raw(destination, message).await
    }
}

impl fmt::Debug for ClientCore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("service", &self.service.name)
            .field("topic", &self.topic)
            .field("server", &self.server)
            .field("timeout", &self.timeout)
            .field("transport", &self.transport)
            .finish()
    }
}
