//! What a request, a reply and a notification look like on each wire, as
//! AsyncAPI message objects: `headers` (the AMQP header table),
//! `x-amqp-properties` (the AMQP basic properties set, by their AMQP names)
//! and `payload` (the body: on the native wire, decoded per its layout).
//! Both describe what the runtime sends, strictly (`additionalProperties:
//! false`): a test publishes real messages and validates them here.

use serde_json::{Map, Value, json};

use super::deploy::WireKind;

mod oslo;

use oslo::oslo;

pub(crate) const BINCODE: &str = "application/x-bincode";
pub(crate) const JSON: &str = "application/json";
pub(crate) const BINDING_VERSION: &str = "0.3.0";

/// What one message is, wire apart.
#[derive(Debug)]
pub(crate) struct Shape<'a> {
    /// The component's name.
    pub(crate) name: String,
    pub(crate) title: String,
    pub(crate) summary: Option<&'a str>,
    pub(crate) kind: Kind<'a>,
}

/// The kinds of message.
#[derive(Debug)]
pub(crate) enum Kind<'a> {
    /// A request for `method`, its arguments' object schema; `call` when
    /// it wants a reply.
    Request {
        method: &'a str,
        args: Value,
        call: bool,
    },
    /// A call's reply, the schemas of its outcomes.
    Reply { outcomes: Vec<Value> },
    /// A notification.
    Notification {
        event_type: &'a str,
        publisher_id: &'a str,
        priority: String,
        payload: Value,
    },
}

/// The message object of `shape` on `wire`.
pub(crate) fn message(wire: WireKind, shape: Shape<'_>) -> Value {
    let (headers, properties, payload, binding) = match wire {
        WireKind::Native => native(&shape.kind),
        WireKind::Oslo => oslo(&shape.kind),
    };
    let mut message = Map::new();
    message.insert("name".into(), json!(shape.name));
    message.insert("title".into(), json!(shape.title));
    if let Some(summary) = shape.summary {
        message.insert("summary".into(), json!(super::types::plain_links(summary)));
    }
    let content_type = match wire {
        WireKind::Native => BINCODE,
        WireKind::Oslo => JSON,
    };
    message.insert("contentType".into(), json!(content_type));
    message.insert("headers".into(), headers);
    message.insert("x-amqp-properties".into(), properties);
    message.insert("payload".into(), payload);
    let correlated = matches!(
        shape.kind,
        Kind::Request { call: true, .. } | Kind::Reply { .. }
    );
    if correlated {
        let location = match wire {
            WireKind::Native => "$message.header#/correlation_id",
            WireKind::Oslo => "$message.payload#/oslo.message/_msg_id",
        };
        message.insert("correlationId".into(), json!({"location": location}));
    }
    let mut amqp = binding;
    amqp.insert("bindingVersion".into(), json!(BINDING_VERSION));
    message.insert("bindings".into(), json!({"amqp": amqp}));
    Value::Object(message)
}

type Parts = (Value, Value, Value, Map<String, Value>);

fn native(kind: &Kind<'_>) -> Parts {
    let mut binding = Map::new();
    match kind {
        Kind::Request { method, args, call } => {
            binding.insert("messageType".into(), json!(method));
            let mut props = vec![
                (
                    "type",
                    json!({"const": method, "description": "The method."}),
                    true,
                ),
                ("content_type", json!({"const": BINCODE}), true),
            ];
            if *call {
                props.extend(call_properties());
            } else {
                props.push(message_id());
                props.push(persistent(CAST_PERSISTENT));
            }
            let payload = json!({
                "type": "object",
                "description": "The body, decoded: the byte 2 (native wire v2), then the preamble and the arguments, bincode-encoded (standard configuration: variable-length integers) one after the other; the arguments in declaration order, without their names.",
                "properties": {
                    "format": {"const": 2},
                    "preamble": {"$ref": "#/components/schemas/NativePreamble"},
                    "args": args,
                },
                "required": ["format", "preamble", "args"],
                "additionalProperties": false,
            });
            (no_headers(), properties(props), payload, binding)
        }
        Kind::Reply { outcomes } => {
            let props = vec![
                (
                    "type",
                    json!({"enum": ["ok", "item", "end", "error", "failure", "heartbeat"], "description": "`ok`: the body is the value; `error`: the manager's error; `failure`: a framework error (RpcError); `heartbeat`: the server still works on it (empty body). A streaming method's replies are `item`s then `end` (or a final `error`/`failure`), each body but a heartbeat's starting with its 8-byte little-endian sequence number, and name the server in `reply_to`."}),
                    true,
                ),
                ("content_type", json!({"enum": [BINCODE, JSON]}), true),
                ("correlation_id", json!({"type": "string"}), true),
                (
                    "reply_to",
                    json!({"type": "string", "description": "On a stream's replies: the server sending it (credit and cancel go to its `topic.server` queue)."}),
                    false,
                ),
            ];
            let headers = json!({
                "type": "object",
                "description": "Only on an `error` reply: the error's Display and Rust type, at most 1024 bytes each, for tools that cannot decode the type.",
                "properties": {
                    "x-error-message": {"type": "string", "maxLength": 1024},
                    "x-error-type": {"type": "string", "maxLength": 1024},
                },
                "additionalProperties": false,
            });
            let payload = json!({
                "description": "Selected by the AMQP `type`, bincode-encoded.",
                "oneOf": outcomes,
            });
            (headers, properties(props), payload, binding)
        }
        Kind::Notification {
            event_type,
            publisher_id,
            priority,
            payload,
        } => {
            let props = vec![
                ("content_type", json!({"const": BINCODE}), true),
                persistent(NOTIFICATION_PERSISTENT),
                message_id(),
            ];
            let headers = json!({
                "type": "object",
                "properties": {
                    "x-event-type": {"const": event_type},
                    "x-publisher-id": {"type": "string", "description": format!("The publisher, e.g. `{publisher_id}`.")},
                    "x-priority": {"const": priority},
                    "x-message-id": {"type": "string", "format": "uuid"},
                    "x-timestamp": {"type": "string", "pattern": "^[0-9]+$", "description": "Unix time in ms."},
                    "x-request-id": {"type": "string"},
                    "x-user-id": {"type": "string"},
                    "x-project-id": {"type": "string"},
                    "x-roles": {"type": "string", "description": "Comma separated."},
                    "x-auth-token": {"type": "string"},
                    "traceparent": traceparent(),
                },
                "patternProperties": {
                    "^x-ctx-": {"type": "string", "description": "A context value."},
                    "^x-ctxj-": {"type": "string", "contentMediaType": JSON, "description": "A context value that is not a string, as JSON."},
                },
                "required": ["x-event-type", "x-publisher-id", "x-priority", "x-message-id", "x-timestamp", "x-request-id"],
                "additionalProperties": false,
            });
            (headers, properties(props), payload.clone(), binding)
        }
    }
}

type Field = (&'static str, Value, bool);

/// An object schema of `fields`; with `context`, oslo's `_context_<key>`
/// fields too.
fn object(fields: Vec<Field>, context: bool) -> Value {
    let mut schema = properties(fields);
    if context {
        schema["properties"]["_context_request_id"] = json!({"type": "string"});
        schema["properties"]["_context_roles"] =
            json!({"type": "array", "items": {"type": "string"}});
        schema["properties"]["_context_traceparent"] = traceparent();
        schema["patternProperties"] = json!({"^_context_": {"description": "One key of the caller's context (oslo's RequestContext.to_dict())."}});
        if let Some(required) = schema["required"].as_array_mut() {
            required.push(json!("_context_request_id"));
        }
    }
    schema
}

/// A strict object schema of named properties.
fn properties(fields: Vec<Field>) -> Value {
    let mut properties = Map::new();
    let mut required = Vec::new();
    for (name, schema, needed) in fields {
        properties.insert(name.to_owned(), schema);
        if needed {
            required.push(json!(name));
        }
    }
    json!({"type": "object", "properties": properties, "required": required, "additionalProperties": false})
}

fn no_headers() -> Value {
    json!({"type": "object", "maxProperties": 0, "description": "No header table."})
}

fn message_id() -> Field {
    (
        "message_id",
        json!({"type": "string", "pattern": "^[0-9a-f]{16}-[0-9]+$", "description": "On casts and notifications: a random id of the publisher's channel and the publish's sequence number on it. Unique: a returned message is matched to its publish by it, and a server drops a cast delivered to it twice (a call's request is matched, and deduplicated, by its correlation id)."}),
        true,
    )
}

const CAST_PERSISTENT: &str =
    "Persistent: a cast waiting in a durable queue survives a broker restart.";
const NOTIFICATION_PERSISTENT: &str = "Persistent: notifications go to durable queues.";

/// `delivery_mode` 2 (persistent), for the reason given.
fn persistent(why: &'static str) -> Field {
    (
        "delivery_mode",
        json!({"const": 2, "description": why}),
        true,
    )
}

fn call_properties() -> [Field; 3] {
    [
        ("correlation_id", json!({"type": "string"}), true),
        (
            "reply_to",
            json!({"type": "string", "pattern": "^reply_", "description": "The caller's reply queue."}),
            true,
        ),
        (
            "expiration",
            json!({"type": "string", "pattern": "^[0-9]+$", "description": "The call's timeout in ms: the broker drops the request after it."}),
            true,
        ),
    ]
}

fn unique_id() -> Field {
    (
        "_unique_id",
        json!({"type": "string", "pattern": "^[0-9a-f]{32}$", "description": "A fresh id per message: a server drops repeated ones."}),
        true,
    )
}

fn traceparent() -> Value {
    json!({"type": "string", "pattern": "^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$", "description": "W3C trace context."})
}

/// The schemas the native messages refer to.
pub(crate) fn native_schemas() -> Vec<(&'static str, Value)> {
    let optional = |schema: Value| json!({"oneOf": [schema, {"type": "null"}]});
    let pairs = json!({"type": "array", "items": {"type": "array", "items": [{"type": "string"}, {"type": "string"}], "minItems": 2, "maxItems": 2}});
    vec![
        (
            "NativePreamble",
            json!({
                "title": "NativePreamble",
                "description": "The facts of a native request that have no AMQP property, in this order.",
                "type": "object",
                "properties": {
                    "version": {"type": "string", "pattern": "^[0-9]+\\.[0-9]+$", "description": "The API version the request needs."},
                    "namespace": optional(json!({"type": "string"})),
                    "timeout_ms": optional(json!({"type": "integer", "minimum": 0, "description": "How long the caller waits, in ms from receipt."})),
                    "call_monitor_ms": optional(json!({"type": "integer", "minimum": 0, "description": "Heartbeats wanted: the caller gives up after this many ms without one."})),
                    "context": {"$ref": "#/components/schemas/NativeContext"},
                },
                "required": ["version", "namespace", "timeout_ms", "call_monitor_ms", "context"],
                "additionalProperties": false,
            }),
        ),
        (
            "NativeContext",
            json!({
                "title": "NativeContext",
                "description": "The caller's context, in this order.",
                "type": "object",
                "properties": {
                    "request_id": {"type": "string"},
                    "user_id": optional(json!({"type": "string"})),
                    "project_id": optional(json!({"type": "string"})),
                    "roles": {"type": "array", "items": {"type": "string"}},
                    "auth_token": optional(json!({"type": "string"})),
                    "values": pairs,
                    "raw_values": {"description": "Values that are not strings, as JSON text (from oslo.messaging callers).", "allOf": [pairs]},
                    "trace": optional(traceparent()),
                },
                "required": ["request_id", "user_id", "project_id", "roles", "auth_token", "values", "raw_values", "trace"],
                "additionalProperties": false,
            }),
        ),
    ]
}
