//! The engine under every generated client: options chained like
//! oslo.messaging's `prepare()`, and the typed call and cast.
//!
//! A generated `FooClient` wraps a [`ClientCore`] and adds one typed method
//! per trait method; everything transport-related happens here.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use tracing::{Instrument, Span};

use crate::args::ArgNames;
use crate::context::Context;
use crate::descriptor::{MethodDescriptor, ServiceDescriptor};
use crate::error::RpcError;
use crate::message::Message;
use crate::stream::RpcStream;
use crate::telemetry::{self, spans};
use crate::topology::{check_name, check_server_names, fanout_exchange};
use crate::transport::{DEFAULT_TIMEOUT, Destination, Transport};
use crate::typed::{EncodeArgs, MethodTypes, StreamTypes};
use crate::version;
use crate::wire::{OutgoingRequest, ReplyBody};

/// Transport, target and options of a client; cheap to clone.
#[derive(Clone)]
pub struct ClientCore {
    transport: Transport,
    service: &'static ServiceDescriptor,
    topic: Arc<str>,
    server: Option<Arc<str>>,
    /// Where calls and casts (not fanouts) go: built once, from `topic`
    /// and `server`.
    target: Arc<Destination>,
    timeout: Duration,
    version_cap: Option<Arc<str>>,
    call_monitor: Option<Duration>,
    /// The version a method without `since` needs (`major.0`).
    base_version: Arc<str>,
}

impl ClientCore {
    /// A client of `service` on its default topic, any server.
    pub fn new(transport: &Transport, service: &'static ServiceDescriptor) -> Self {
        Self {
            transport: transport.clone(),
            service,
            topic: service.topic.into(),
            server: None,
            target: target(service.topic, None),
            timeout: DEFAULT_TIMEOUT,
            version_cap: None,
            call_monitor: None,
            base_version: version::base(service.version).into(),
        }
    }

    /// The same client, sending to one named server only.
    pub fn with_server(&self, server: impl Into<String>) -> Self {
        let server: Arc<str> = server.into().into();
        Self {
            target: target(&self.topic, Some(&server)),
            server: Some(server),
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
        let topic: Arc<str> = topic.into().into();
        Self {
            target: target(&topic, self.server.as_deref()),
            topic,
            ..self.clone()
        }
    }

    /// The same client, refusing (before sending) any method newer than
    /// `cap`: the version the oldest server of the deployment speaks.
    pub fn with_version_cap(&self, cap: impl Into<String>) -> Self {
        Self {
            version_cap: Some(cap.into().into()),
            ..self.clone()
        }
    }

    /// The same client, asking servers for heartbeats during calls (oslo's
    /// `call_monitor_timeout`): the server sends one every `silence / 2`
    /// while the manager works, and the call fails with
    /// [`RpcError::Unresponsive`] after `silence` without one. A long call
    /// can then run up to the (longer) timeout, while a dead server is
    /// noticed within `silence`.
    pub fn with_call_monitor(&self, silence: Duration) -> Self {
        Self {
            call_monitor: Some(silence),
            ..self.clone()
        }
    }

    /// Whether a request needing `version` may be sent under the version cap
    /// (always, without a cap), as oslo.messaging's `can_send_version`.
    pub fn can_send_version(&self, version: &str) -> bool {
        match &self.version_cap {
            None => version::parse(version).is_some(),
            Some(cap) => version::is_compatible(cap, version),
        }
    }

    /// The version a request for `method` needs, if the cap allows it.
    fn required_version(&self, method: &MethodDescriptor) -> Result<&str, RpcError> {
        let required = method.since.unwrap_or(&self.base_version);
        match &self.version_cap {
            Some(cap) if !version::is_compatible(cap, required) => Err(RpcError::VersionCap {
                method: method.name.to_owned(),
                required: required.to_owned(),
                cap: cap.to_string(),
            }),
            _ => Ok(required),
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

    /// Where a request goes, once its names are checked.
    fn destination(&self, fanout: bool) -> Result<Cow<'_, Destination>, RpcError> {
        check_name("topic", &self.topic)?;
        if fanout {
            let topic = self.topic.to_string();
            return Ok(Cow::Owned(Destination::Fanout { topic }));
        }
        if let Some(server) = &self.server {
            check_server_names(&self.topic, server)?;
        }
        Ok(Cow::Borrowed(&self.target))
    }

    /// The request message; records in `span` where it goes.
    fn request(
        &self,
        span: &Span,
        (method, destination): (&MethodDescriptor, &Destination),
        context: &Context,
        body: Vec<u8>,
        timeout: Option<Duration>,
        call_monitor: Option<Duration>,
    ) -> Result<Message, RpcError> {
        let version = self.required_version(method)?;
        if !span.is_disabled() {
            let peer = self.transport.peer();
            let (exchange, routing_key) = match destination {
                Destination::Fanout { topic } => (Some(fanout_exchange(topic)), String::new()),
                other => (peer.exchange, other.to_string()),
            };
            spans::sent_to(
                span,
                &spans::Target {
                    exchange: exchange.as_deref(),
                    routing_key: &routing_key,
                    broker: peer.broker,
                    messaging: peer.system.unwrap_or("unknown"),
                    body_size: body.len(),
                },
            );
        }
        Ok(self.transport.wire().encode_request(OutgoingRequest {
            method: method.name.into(),
            version,
            namespace: self.service.namespace,
            context,
            trace: spans::outgoing_trace(span),
            timeout,
            call_monitor,
            body,
        }))
    }

    /// Encodes `args` with a method's `encode_args` (from its type table).
    fn encode<A>(
        &self,
        method: &MethodDescriptor,
        names: ArgNames,
        encode_args: EncodeArgs<A>,
        args: &A,
    ) -> Result<Vec<u8>, RpcError> {
        encode_args(self.transport.wire().codec(), names, args).map_err(|e| RpcError::Encode {
            what: format!("the arguments of `{}`", method.name),
            detail: e.to_string(),
        })
    }

    /// How long a request made with `context` may wait: the client's
    /// timeout, or less when the context's deadline is nearer (a call made
    /// while handling another never outlives the caller's deadline).
    fn timeout_for(&self, context: &Context) -> Duration {
        context
            .remaining()
            .map_or(self.timeout, |left| left.min(self.timeout))
    }

    /// Sends a call and waits for its reply, read through `types`.
    pub async fn call<A, O, C>(
        &self,
        method: &'static MethodDescriptor,
        types: &'static MethodTypes<A, O, C>,
        context: &Context,
        args: A,
    ) -> C {
        let span = spans::client(self.service, method, self.transport.speaks(), false);
        // Tokio's clock: the call's deadline counts from here too.
        let started = tokio::time::Instant::now();
        let reply = self
            .try_call(&span, (method, started), types, context, args)
            .instrument(span.clone())
            .await;
        let outcome = match &reply {
            Ok(reply) => telemetry::outcome(Some(reply)),
            Err(error) => error.kind(),
        };
        if outcome != "ok" {
            spans::failed(&span, outcome);
        }
        telemetry::call_done(self.service.name, method.name, outcome, started.elapsed());
        match reply {
            Ok(reply) => (types.decode_reply)(self.transport.wire().codec(), reply),
            Err(error) => (types.fail)(error),
        }
    }

    /// The call, its deadline counted from when it `started`.
    async fn try_call<A, O, C>(
        &self,
        span: &Span,
        (method, started): (&'static MethodDescriptor, tokio::time::Instant),
        types: &MethodTypes<A, O, C>,
        context: &Context,
        args: A,
    ) -> Result<ReplyBody, RpcError> {
        let destination = self.destination(false)?;
        let body = self.encode(method, types.names, types.encode_args, &args)?;
        drop(args);
        let timeout = self.timeout_for(context);
        let message = self.request(
            span,
            (method, &destination),
            context,
            body,
            Some(timeout),
            self.call_monitor,
        )?;
        let reply = self
            .transport
            .call_monitored(
                method.name,
                &destination,
                message,
                (started, timeout),
                self.call_monitor,
            )
            .await?;
        self.transport.wire().decode_reply(reply)
    }

    /// Sends a cast and returns once the broker confirmed it; with `fanout`,
    /// to every server of the topic.
    pub async fn cast<A, O, C>(
        &self,
        method: &'static MethodDescriptor,
        types: &'static MethodTypes<A, O, C>,
        context: &Context,
        args: A,
        fanout: bool,
    ) -> C {
        let span = spans::client(self.service, method, self.transport.speaks(), true);
        let sent = async {
            let destination = self.destination(fanout)?;
            let body = self.encode(method, types.names, types.encode_args, &args)?;
            let mut message =
                self.request(&span, (method, &destination), context, body, None, None)?;
            // Persistent: a cast waiting in a durable queue survives a broker restart.
            message.persistent = true;
            // Waits for the confirm no longer than a call would for its reply.
            let timeout = self.timeout_for(context);
            self.transport
                .cast_named(method.name, &destination, message, timeout)
                .await
        };
        let sent = sent.instrument(span.clone()).await;
        if let Err(error) = &sent {
            spans::failed(&span, error.kind());
        }
        telemetry::cast_done(self.service.name, method.name, sent.as_ref().map(|_| ()));
        match sent {
            Ok(()) => {
                (types.decode_reply)(self.transport.wire().codec(), ReplyBody::Value(Vec::new()))
            }
            Err(error) => (types.fail)(error),
        }
    }
}

/// The destination of a client's calls and casts: the topic queue, or one
/// server's.
fn target(topic: &str, server: Option<&str>) -> Arc<Destination> {
    let topic = topic.to_owned();
    Arc::new(match server {
        Some(server) => Destination::Server {
            topic,
            server: server.to_owned(),
        },
        None => Destination::Topic { topic },
    })
}

impl ClientCore {
    /// Sends a streaming call; the items arrive through the returned
    /// stream (a failure to send is its only item).
    pub async fn stream<A, T, E>(
        &self,
        method: &'static MethodDescriptor,
        types: &'static StreamTypes<A, T, E>,
        context: &Context,
        args: A,
    ) -> RpcStream<T, E>
    where
        T: Send + 'static,
        E: Send + 'static,
    {
        let span = spans::client(self.service, method, self.transport.speaks(), false);
        let opened = async {
            let destination = self.destination(false)?;
            let body = self.encode(method, types.names, types.encode_args, &args)?;
            drop(args);
            let timeout = self.timeout_for(context);
            let message = self.request(
                &span,
                (method, &destination),
                context,
                body,
                Some(timeout),
                self.call_monitor,
            )?;
            let call = self
                .transport
                .open_call(method.name, &destination, message, timeout)
                .await?;
            Ok::<_, RpcError>((call, timeout))
        }
        .instrument(span.clone())
        .await;
        match opened {
            Ok((call, timeout)) => crate::stream::open(crate::stream::Opened {
                transport: self.transport.clone(),
                call,
                method: method.name.to_owned(),
                topic: self.topic.to_string(),
                namespace: self.service.namespace,
                timeout,
                monitor: self.call_monitor,
                decode_item: types.decode_item,
                decode_end: types.decode_end,
                fail: types.fail,
            }),
            Err(error) => {
                spans::failed(&span, error.kind());
                RpcStream::failed((types.fail)(error))
            }
        }
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
