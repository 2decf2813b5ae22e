//! Notifications on the native wire: their facts and the context in
//! headers (they are not on the request path), the payload as the body.

use std::borrow::Cow;
use std::time::Duration;

use crate::codec::{AnyCodec, Codec};
use crate::context::{Context, new_request_id};
use crate::error::RpcError;
use crate::message::{Headers, Message};
use crate::priority::Priority;
use crate::secret::Secret;
use crate::trace::TraceParent;
use crate::wire::{IncomingNotification, OutgoingNotification};

const REQUEST_ID: &str = "x-request-id";
const USER_ID: &str = "x-user-id";
const PROJECT_ID: &str = "x-project-id";
const ROLES: &str = "x-roles";
const AUTH_TOKEN: &str = crate::message::SECRET_HEADER;
const VALUE_PREFIX: &str = "x-ctx-";
const RAW_VALUE_PREFIX: &str = "x-ctxj-";
const TRACEPARENT: &str = "traceparent";
const EVENT_TYPE: &str = "x-event-type";
const PUBLISHER_ID: &str = "x-publisher-id";
const PRIORITY: &str = "x-priority";
const MESSAGE_ID: &str = "x-message-id";
const TIMESTAMP: &str = "x-timestamp";

/// The header names this format writes, so that a transport reading them
/// off the network can keep the static name instead of allocating a copy.
pub(crate) const HEADER_NAMES: &[&str] = &[
    REQUEST_ID,
    USER_ID,
    PROJECT_ID,
    ROLES,
    AUTH_TOKEN,
    TRACEPARENT,
    EVENT_TYPE,
    PUBLISHER_ID,
    PRIORITY,
    MESSAGE_ID,
    TIMESTAMP,
];

/// A notification that cannot be read, and why.
pub(super) fn bad(detail: String) -> RpcError {
    RpcError::Decode {
        what: "a notification".into(),
        detail,
    }
}

pub(super) fn encode(codec: &AnyCodec, notification: OutgoingNotification<'_>) -> Message {
    let mut headers = Headers::new();
    headers.insert(EVENT_TYPE, notification.event_type);
    headers.insert(PUBLISHER_ID, notification.publisher_id);
    headers.insert(PRIORITY, notification.priority.name());
    headers.insert(MESSAGE_ID, notification.message_id);
    let ms = notification
        .timestamp
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis();
    headers.insert(TIMESTAMP, ms.to_string());
    encode_context(notification.context, &mut headers);
    Message {
        content_type: Some(Cow::Borrowed(codec.content_type())),
        persistent: true,
        headers,
        body: notification.payload,
        ..Message::default()
    }
}

/// A notification read from `message`, its payload in `codec`.
pub(super) fn decode(codec: AnyCodec, message: Message) -> Result<IncomingNotification, RpcError> {
    let headers = &message.headers;
    let field = |name: &str| {
        headers
            .get(name)
            .map(str::to_owned)
            .ok_or_else(|| bad(format!("the `{name}` header is missing")))
    };
    let priority = field(PRIORITY)?;
    let priority = Priority::from_name(&priority)
        .ok_or_else(|| bad(format!("`{priority}` is not a notification priority")))?;
    let ms: u64 = field(TIMESTAMP)?
        .parse()
        .map_err(|_| bad(format!("`{TIMESTAMP}` is not a number of milliseconds")))?;
    Ok(IncomingNotification {
        priority,
        event_type: field(EVENT_TYPE)?,
        publisher_id: field(PUBLISHER_ID)?,
        message_id: field(MESSAGE_ID)?,
        timestamp: std::time::UNIX_EPOCH + Duration::from_millis(ms),
        context: decode_context(headers),
        payload: message.body,
        codec,
    })
}

fn encode_context(context: &Context, headers: &mut Headers) {
    headers.insert(REQUEST_ID, context.request_id());
    if let Some(user) = context.user_id() {
        headers.insert(USER_ID, user);
    }
    if let Some(project) = context.project_id() {
        headers.insert(PROJECT_ID, project);
    }
    if !context.roles().is_empty() {
        headers.insert(ROLES, context.roles().join(","));
    }
    if let Some(token) = context.auth_token() {
        headers.insert(AUTH_TOKEN, token.expose());
    }
    for (key, value) in context.values() {
        headers.insert(format!("{VALUE_PREFIX}{key}"), value.as_str());
    }
    for (key, json) in context.raw_values() {
        headers.insert(format!("{RAW_VALUE_PREFIX}{key}"), json.as_str());
    }
    // No trace at the caller: the server starts one (see `trace`).
    if let Some(trace) = context.trace() {
        headers.insert(TRACEPARENT, trace.child().to_string());
    }
}

fn decode_context(headers: &Headers) -> Context {
    let mut context = Context::default();
    context.set_request_id(
        headers
            .get(REQUEST_ID)
            .map_or_else(new_request_id, str::to_owned),
    );
    if let Some(user) = headers.get(USER_ID) {
        context = context.with_user_id(user);
    }
    if let Some(project) = headers.get(PROJECT_ID) {
        context = context.with_project_id(project);
    }
    if let Some(roles) = headers.get(ROLES) {
        context = context.with_roles(roles.split(',').filter(|r| !r.is_empty()));
    }
    context.set_auth_token(headers.get(AUTH_TOKEN).map(Secret::new));
    context.set_trace(headers.get(TRACEPARENT).and_then(TraceParent::parse));
    for (name, value) in headers.iter() {
        if let Some(key) = name.strip_prefix(VALUE_PREFIX) {
            context
                .values_mut()
                .insert(key.to_owned(), value.to_owned());
        } else if let Some(key) = name.strip_prefix(RAW_VALUE_PREFIX) {
            context.set_raw_value(key, value);
        }
    }
    context
}
