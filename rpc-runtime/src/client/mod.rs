//! The engine under every generated client: where requests go and with
//! which [`CallOptions`] (oslo.messaging's `prepare()`), and how a request
//! message is built; `send.rs` sends the typed calls, casts and streams.
//!
//! A generated `FooClient` wraps a [`ClientCore`] and adds one typed method
//! per trait method; everything transport-related happens here.

mod send;

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use tracing::Span;

use crate::args::ArgNames;
use crate::context::Context;
use crate::descriptor::{MethodDescriptor, ServiceDescriptor};
use crate::error::RpcError;
use crate::message::Message;
use crate::options::CallOptions;
use crate::telemetry::spans;
use crate::topology::{check_name, check_server_names, fanout_exchange};
use crate::transport::{Destination, Transport};
use crate::typed::EncodeArgs;
use crate::version;
use crate::wire::OutgoingRequest;

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
    options: CallOptions,
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
            options: CallOptions::default(),
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

    /// The same client with its options changed by `change`; see
    /// [`CallOptions`].
    pub fn with_options(&self, change: impl FnOnce(CallOptions) -> CallOptions) -> Self {
        Self {
            options: change(self.options.clone()),
            ..self.clone()
        }
    }

    /// The options of this client's requests.
    pub fn options(&self) -> &CallOptions {
        &self.options
    }

    /// The same client with another reply timeout for calls
    /// ([`CallOptions::timeout`](CallOptions#structfield.timeout)).
    pub fn with_timeout(&self, timeout: Duration) -> Self {
        self.with_options(|o| o.timeout(timeout))
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
    /// `cap` ([`CallOptions::version_cap`](CallOptions#structfield.version_cap)).
    pub fn with_version_cap(&self, cap: impl Into<String>) -> Self {
        self.with_options(|o| o.version_cap(cap))
    }

    /// The same client, asking servers for heartbeats during calls
    /// ([`CallOptions::call_monitor`](CallOptions#structfield.call_monitor)):
    /// a long call can run up to the (longer) timeout, while a dead server
    /// is noticed within `silence`.
    pub fn with_call_monitor(&self, silence: Duration) -> Self {
        self.with_options(|o| o.call_monitor(silence))
    }

    /// Whether a request needing `version` may be sent under the version cap
    /// (always, without a cap), as oslo.messaging's `can_send_version`.
    pub fn can_send_version(&self, version: &str) -> bool {
        match &self.options.version_cap {
            None => version::parse(version).is_some(),
            Some(cap) => version::is_compatible(cap, version),
        }
    }

    /// The version a request for `method` needs, if the cap allows it.
    fn required_version(&self, method: &MethodDescriptor) -> Result<&str, RpcError> {
        let required = method.since.unwrap_or(&self.base_version);
        match &self.options.version_cap {
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
        self.options.timeout_or_default()
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
        options: &CallOptions,
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
            options,
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

impl fmt::Debug for ClientCore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("service", &self.service.name)
            .field("topic", &self.topic)
            .field("server", &self.server)
            .field("options", &self.options)
            .field("transport", &self.transport)
            .finish()
    }
}
