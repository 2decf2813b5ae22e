//! The preamble at the head of a native request's body (wire v2): a
//! version byte, then the request's facts that have no standard AMQP
//! property, bincode-encoded. RabbitMQ decodes every message's properties,
//! header table included, and each header costs it throughput; these bytes
//! it never looks at.

use std::borrow::Cow;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::codec::{CodecError, decode_head};
use crate::context::Context;
use crate::secret::Secret;
use crate::trace::TraceParent;

/// The first byte of a request body in wire v2.
pub(super) const V2: u8 = 2;

/// A request's facts besides its method (the AMQP `type`).
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct RequestHead<'a> {
    #[serde(borrow)]
    pub(super) version: Cow<'a, str>,
    #[serde(borrow)]
    pub(super) namespace: Option<Cow<'a, str>>,
    /// How long the caller waits, in ms from receipt.
    pub(super) timeout_ms: Option<u64>,
    /// Heartbeats wanted: the caller gives up after this many ms without one.
    pub(super) call_monitor_ms: Option<u64>,
    #[serde(borrow)]
    pub(super) context: ContextHead<'a>,
}

/// The caller's context.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct ContextHead<'a> {
    #[serde(borrow)]
    request_id: Cow<'a, str>,
    #[serde(borrow)]
    user_id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    project_id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    roles: Vec<Cow<'a, str>>,
    #[serde(borrow)]
    auth_token: Option<Cow<'a, str>>,
    #[serde(borrow)]
    values: Vec<(Cow<'a, str>, Cow<'a, str>)>,
    /// Values that are not strings, as JSON (received from oslo.messaging).
    #[serde(borrow)]
    raw_values: Vec<(Cow<'a, str>, Cow<'a, str>)>,
    /// W3C `traceparent`, when the caller has a trace.
    #[serde(borrow)]
    trace: Option<Cow<'a, str>>,
}

impl<'a> ContextHead<'a> {
    /// What `context` sends: `trace`, else its trace continued with a new
    /// span.
    pub(super) fn of(context: &'a Context, trace: Option<TraceParent>) -> Self {
        let borrowed = |pairs: &'a std::collections::BTreeMap<String, String>| {
            pairs
                .iter()
                .map(|(k, v)| (Cow::Borrowed(k.as_str()), Cow::Borrowed(v.as_str())))
                .collect()
        };
        Self {
            request_id: Cow::Borrowed(context.request_id()),
            user_id: context.user_id().map(Cow::Borrowed),
            project_id: context.project_id().map(Cow::Borrowed),
            roles: context
                .roles()
                .iter()
                .map(|r| Cow::Borrowed(r.as_str()))
                .collect(),
            auth_token: context.auth_token().map(|t| Cow::Borrowed(t.expose())),
            values: borrowed(context.values()),
            raw_values: borrowed(context.raw_values()),
            // No trace at the caller: the server starts one (see `trace`).
            trace: trace
                .or_else(|| context.trace().map(TraceParent::child))
                .map(|t| Cow::Owned(t.to_string())),
        }
    }

    /// The context the server runs the request with.
    pub(super) fn into_context(self) -> Context {
        let mut context = Context::default();
        context.set_request_id(self.request_id.into_owned());
        if let Some(user) = self.user_id {
            context = context.with_user_id(user);
        }
        if let Some(project) = self.project_id {
            context = context.with_project_id(project);
        }
        context = context.with_roles(self.roles.iter().map(|r| r.as_ref()));
        context.set_auth_token(self.auth_token.map(|t| Secret::new(t.into_owned())));
        context.set_trace(self.trace.as_deref().and_then(TraceParent::parse));
        for (key, value) in self.values {
            context
                .values_mut()
                .insert(key.into_owned(), value.into_owned());
        }
        for (key, json) in self.raw_values {
            context.set_raw_value(key.into_owned(), json.into_owned());
        }
        context
    }
}

impl RequestHead<'_> {
    /// The version byte and the encoded head, ready for the arguments.
    pub(super) fn encode(&self, args: &[u8]) -> Vec<u8> {
        // One allocation: room for a head without a trace, written in place.
        let mut body = Vec::with_capacity(1 + 96 + args.len());
        body.push(V2);
        if bincode::serde::encode_into_std_write(self, &mut body, bincode::config::standard())
            .is_err()
        {
            body.truncate(1);
        }
        body.extend_from_slice(args);
        body
    }

    pub(super) fn timeout(&self) -> Option<Duration> {
        self.timeout_ms.map(Duration::from_millis)
    }

    pub(super) fn call_monitor(&self) -> Option<Duration> {
        self.call_monitor_ms.map(Duration::from_millis)
    }
}

/// Reads the head of a v2 request body (at most `max_size` bytes); returns
/// it and where the arguments start.
pub(super) fn decode(body: &[u8], max_size: usize) -> Result<(RequestHead<'_>, usize), CodecError> {
    match body.first() {
        Some(&V2) => {
            let (head, read) = decode_head(&body[1..], max_size)?;
            Ok((head, 1 + read))
        }
        Some(other) => Err(CodecError::Invalid(format!(
            "the body starts with format version {other}, not {V2}"
        ))),
        None => Err(CodecError::Invalid("the body is empty".to_owned())),
    }
}
