//! The wire mapping: how a request or a reply becomes a [`Message`].
//!
//! Everything the runtime knows about header names and body layout is in
//! this module, behind [`WireFormat`]. Two formats exist, chosen per
//! transport with [`Wire`]:
//!
//! - [`NativeWire`], the default: routing facts in AMQP headers, arguments
//!   as one codec-encoded (bincode) body;
//! - [`OsloWire`]: oslo.messaging's JSON envelope, so a Rust service can
//!   answer Python OpenStack services and call them.

mod native;
#[cfg(test)]
mod optional_tests;
mod oslo;

pub use native::NativeWire;
pub(crate) use native::{HEADER_NAMES, KNOWN_VALUES, STREAM_END, STREAM_ITEM};
pub use oslo::OsloWire;

use std::borrow::Cow;
use std::fmt::Debug;
use std::sync::Arc;
use std::time::SystemTime;

use crate::codec::AnyCodec;
use crate::context::Context;
use crate::error::RpcError;
use crate::message::Message;
use crate::options::CallOptions;
use crate::priority::Priority;
use crate::trace::TraceParent;

/// Which wire format a transport speaks. Every client and server of a topic
/// must speak the same one.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Wire {
    /// The method in the AMQP `type`, a preamble and a bincode body (see
    /// [`NativeWire`]).
    #[default]
    Native,
    /// oslo.messaging's rabbit driver format (see [`OsloWire`]).
    Oslo,
}

impl Wire {
    /// The wire format's implementation, with a body size limit.
    pub fn format(self, max_size: usize) -> Arc<dyn WireFormat> {
        match self {
            Wire::Native => Arc::new(NativeWire::with_max_size(max_size)),
            Wire::Oslo => Arc::new(OsloWire::with_max_size(max_size)),
        }
    }

    /// Reads `native` or `oslo`.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "native" => Some(Wire::Native),
            "oslo" => Some(Wire::Oslo),
            _ => None,
        }
    }

    /// `native` or `oslo`.
    pub fn name(self) -> &'static str {
        match self {
            Wire::Native => "native",
            Wire::Oslo => "oslo",
        }
    }

    /// Which built-in wire a message received as it came off the network
    /// looks like, if either: an oslo.messaging envelope (a JSON object with
    /// `oslo.version`), or a native message (a `type` property, or the first
    /// native format's `x-rpc-*` headers).
    pub fn of(message: &Message) -> Option<Self> {
        let body = message.body.trim_ascii_start();
        if body.first() == Some(&b'{') && memchr_slice(body, b"\"oslo.version\"") {
            return Some(Wire::Oslo);
        }
        let v1 = message
            .headers
            .iter()
            .any(|(name, _)| name.starts_with("x-rpc-"));
        if message.kind.is_some() || v1 {
            return Some(Wire::Native);
        }
        None
    }
}

/// Whether `needle` occurs in `haystack`.
fn memchr_slice(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// A request on its way out, body already encoded.
#[derive(Debug)]
pub struct OutgoingRequest<'a> {
    /// The method to run (static, from the service's descriptor, for
    /// generated clients).
    pub method: Cow<'static, str>,
    /// The API version the request needs.
    pub version: &'a str,
    /// The service's namespace, if it has one (oslo's `Target.namespace`).
    pub namespace: Option<&'a str>,
    /// The caller's context.
    pub context: &'a Context,
    /// The `traceparent` to send: the caller's span, when a tracing layer
    /// gives it one. `None` sends the context's trace, if any, one hop
    /// further (a new span id).
    pub trace: Option<TraceParent>,
    /// The options it is sent with: a wire carries those a server acts
    /// on (the caller's timeout, for calls; the call monitor).
    pub options: &'a CallOptions,
    /// The encoded arguments.
    pub body: Vec<u8>,
}

/// A request as a server reads it.
#[derive(Debug)]
pub struct IncomingRequest {
    /// The method to run.
    pub method: String,
    /// The API version the request needs, if it says.
    pub version: Option<String>,
    /// The namespace the request is for, if it names one.
    pub namespace: Option<String>,
    /// The caller's context, deadline included.
    pub context: Context,
    /// The caller's options the wire carried: its timeout (counted from
    /// receipt; the context's deadline says the same) and call monitor.
    pub options: CallOptions,
    /// The encoded arguments.
    pub body: Vec<u8>,
    /// The codec the body is in (named by its content type); replies use it too.
    pub codec: AnyCodec,
}

impl IncomingRequest {
    /// Sets the context's deadline from the caller's timeout, counted from
    /// when the transport received the message (`received_at`): clock skew
    /// between hosts does not matter.
    pub(crate) fn start_deadline(&mut self, received_at: Option<std::time::Instant>) {
        let Some(budget) = self.options.timeout else {
            return;
        };
        let waited = received_at.map(|at| at.elapsed()).unwrap_or_default();
        self.context
            .set_deadline(SystemTime::now().checked_add(budget.saturating_sub(waited)));
    }
}

/// A notification on its way out, payload already encoded.
#[derive(Debug)]
pub struct OutgoingNotification<'a> {
    /// Its priority.
    pub priority: Priority,
    /// What happened, e.g. `volume.create.end`.
    pub event_type: &'a str,
    /// Who says so, e.g. `volume.host-1`.
    pub publisher_id: &'a str,
    /// A unique id.
    pub message_id: &'a str,
    /// When it was emitted.
    pub timestamp: SystemTime,
    /// The context of the request that caused it.
    pub context: &'a Context,
    /// The encoded payload.
    pub payload: Vec<u8>,
}

/// A notification as a listener reads it.
#[derive(Debug)]
pub struct IncomingNotification {
    /// Its priority.
    pub priority: Priority,
    /// What happened.
    pub event_type: String,
    /// Who says so.
    pub publisher_id: String,
    /// Its unique id.
    pub message_id: String,
    /// When it was emitted.
    pub timestamp: SystemTime,
    /// The context it carried.
    pub context: Context,
    /// The encoded payload.
    pub payload: Vec<u8>,
    /// The codec the payload is in.
    pub codec: AnyCodec,
}

/// What a server sends back for a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplyBody {
    /// The manager's value, encoded.
    Value(Vec<u8>),
    /// The manager's typed error.
    Error(ErrorReply),
    /// The framework could not run the request.
    Failure(RpcError),
}

/// A manager's typed error on its way back to the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorReply {
    /// The error, encoded.
    pub body: Vec<u8>,
    /// What the error says (its `Display`), for callers that cannot decode
    /// the body (an oslo.messaging caller shows it). Empty when the wire did
    /// not carry it.
    pub message: String,
    /// The error type's Rust path (`std::any::type_name`), e.g.
    /// `cinder::VolumeError`. Empty when the wire did not carry it.
    pub type_name: String,
    /// What each error of its `source()` chain says, outermost first (the
    /// lines of an oslo.messaging traceback). Empty when the wire did not
    /// carry them.
    pub causes: Vec<String>,
}

impl ErrorReply {
    /// An error reply holding only the encoded error.
    pub fn encoded(body: Vec<u8>) -> Self {
        Self {
            body,
            message: String::new(),
            type_name: String::new(),
            causes: Vec::new(),
        }
    }
}

/// Maps requests and replies to messages and back. Decoding sees untrusted
/// input: it returns errors, never panics.
///
/// A format of your own goes under any transport with
/// [`Transport::with_format`](crate::Transport::with_format),
/// [`MemoryBroker::connect_with_format`](crate::transport::MemoryBroker::connect_with_format)
/// or [`AmqpConfig::format`](crate::AmqpConfig::format). What a transport
/// and a server need to know of a format besides its messages (can it
/// stream, may a server's queue expire) they ask of it here.
pub trait WireFormat: Send + Sync + Debug + 'static {
    /// The format's name, in errors and logs (`native`, `oslo`).
    fn name(&self) -> &'static str;

    /// The messaging system its peers are, for spans' `messaging.system`
    /// (`rpc_runtime`, `oslo_messaging`). Default: the name.
    fn system(&self) -> &'static str {
        self.name()
    }

    /// The built-in format this is, if it is one. Default: `None`.
    fn kind(&self) -> Option<Wire> {
        None
    }

    /// Whether a message received (as it came off the network) is in this
    /// format. A server answers a request in a built-in format it does not
    /// recognize with [`RpcError::WrongWire`], in the sender's format.
    /// Default: every message is.
    fn recognizes(&self, message: &Message) -> bool {
        let _ = message;
        true
    }

    /// Whether it carries streaming replies (items, credit, end): a server
    /// refuses to serve a streaming method on a format that does not.
    /// Default: it does not.
    fn streams(&self) -> bool {
        false
    }

    /// Whether a server's own queue (`topic.server`) may be declared to
    /// expire without a consumer (`x-expires`); not when its peers declare
    /// that queue without it (a declaration with other arguments fails).
    /// Default: it may.
    fn expires_server_queues(&self) -> bool {
        true
    }

    /// The codec bodies use.
    fn codec(&self) -> &AnyCodec;

    /// The same format with another body size limit.
    fn with_max_size(&self, bytes: usize) -> Arc<dyn WireFormat>;

    /// Builds the message of a request (the transport adds reply routing).
    fn encode_request(&self, request: OutgoingRequest<'_>) -> Message;

    /// Reads a request. On error, the method name if it could be read, for
    /// the error reply.
    fn decode_request(&self, message: Message) -> Result<IncomingRequest, RpcError>;

    /// Builds the message of a reply in `codec` (the request's; the
    /// transport adds the correlation id).
    fn encode_reply(&self, reply: ReplyBody, codec: &AnyCodec) -> Message;

    /// Reads a reply.
    fn decode_reply(&self, message: Message) -> Result<ReplyBody, RpcError>;

    /// A heartbeat: "still working on it" (the transport adds the correlation id).
    fn encode_heartbeat(&self) -> Message;

    /// Whether a message on the reply path is a heartbeat.
    fn is_heartbeat(&self, reply: &Message) -> bool;

    /// Builds the message of a notification.
    fn encode_notification(&self, notification: OutgoingNotification<'_>) -> Message;

    /// Reads a notification.
    fn decode_notification(&self, message: Message) -> Result<IncomingNotification, RpcError>;

    /// The message as it goes on the wire, once the transport has set its
    /// correlation id and reply queue: formats that carry those in the body
    /// put them there. Called by the transport just before publishing.
    fn seal(&self, message: Message) -> Result<Message, RpcError> {
        Ok(message)
    }

    /// The reverse of [`WireFormat::seal`], on every message received,
    /// before anything else reads it.
    fn unseal(&self, message: Message) -> Result<Message, RpcError> {
        Ok(message)
    }

    /// The id a sender gave this message so that receivers can drop a copy
    /// delivered twice, if the format has one.
    fn unique_id<'m>(&self, _message: &'m Message) -> Option<&'m str> {
        None
    }
}
