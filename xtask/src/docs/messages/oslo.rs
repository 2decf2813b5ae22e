//! oslo.messaging's messages as AsyncAPI message parts: the JSON envelope
//! (`oslo.version`, `oslo.message`) of requests, replies and notifications.

use serde_json::{Map, json};

use super::{
    CAST_PERSISTENT, JSON, Kind, NOTIFICATION_PERSISTENT, Parts, call_properties, message_id,
    no_headers, object, persistent, properties, unique_id,
};

pub(super) fn oslo(kind: &Kind<'_>) -> Parts {
    let mut binding = Map::new();
    binding.insert("contentEncoding".into(), json!("utf-8"));
    let mut props = vec![
        ("content_type", json!({"const": JSON}), true),
        ("content_encoding", json!({"const": "utf-8"}), true),
    ];
    let inner = match kind {
        Kind::Request { method, args, call } => {
            if !*call {
                props.push(message_id());
                props.push(persistent(CAST_PERSISTENT));
            }
            let mut fields = vec![
                ("method", json!({"const": method}), true),
                ("args", args.clone(), true),
                (
                    "version",
                    json!({"type": "string", "pattern": "^[0-9]+\\.[0-9]+$", "description": "The API version the request needs."}),
                    true,
                ),
                ("namespace", json!({"type": "string"}), false),
                unique_id(),
            ];
            if *call {
                props.extend(call_properties());
                fields.extend([
                    ("_msg_id", json!({"type": "string"}), true),
                    ("_reply_q", json!({"type": "string", "pattern": "^reply_"}), true),
                    ("_timeout", json!({"oneOf": [{"type": "integer", "minimum": 1}, {"type": "null"}], "description": "The call monitor in whole seconds (heartbeats wanted), or null."}), true),
                ]);
            }
            object(fields, true)
        }
        Kind::Reply { outcomes } => {
            props.push(("correlation_id", json!({"type": "string"}), false));
            let result = json!({"oneOf": outcomes.iter().filter(|o| o["title"] == "ok").cloned().collect::<Vec<_>>()});
            object(
                vec![
                    ("result", json!({"oneOf": [result, {"type": "null"}]}), true),
                    (
                        "failure",
                        json!({"oneOf": [{"type": "null"}, {"type": "string", "contentMediaType": JSON, "description": "oslo's serialized exception: class, module, message, tb, args, kwargs."}]}),
                        true,
                    ),
                    (
                        "ending",
                        json!({"type": "boolean", "description": "false: a heartbeat, the reply follows."}),
                        true,
                    ),
                    ("_msg_id", json!({"type": "string"}), true),
                    unique_id(),
                ],
                false,
            )
        }
        Kind::Notification {
            event_type,
            publisher_id,
            priority,
            payload,
        } => {
            props.push(message_id());
            props.push(persistent(NOTIFICATION_PERSISTENT));
            object(
                vec![
                    (
                        "message_id",
                        json!({"type": "string", "format": "uuid"}),
                        true,
                    ),
                    (
                        "publisher_id",
                        json!({"type": "string", "description": format!("The publisher, e.g. `{publisher_id}`.")}),
                        true,
                    ),
                    ("event_type", json!({"const": event_type}), true),
                    ("priority", json!({"const": priority}), true),
                    ("payload", payload.clone(), true),
                    (
                        "timestamp",
                        json!({"type": "string", "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{6}$", "description": "UTC."}),
                        true,
                    ),
                    unique_id(),
                ],
                true,
            )
        }
    };
    let payload = json!({
        "type": "object",
        "description": "oslo.messaging's envelope 2.0: the message is a JSON document inside the string `oslo.message`.",
        "properties": {
            "oslo.version": {"const": "2.0"},
            "oslo.message": {"type": "string", "contentMediaType": JSON, "contentSchema": inner},
        },
        "required": ["oslo.version", "oslo.message"],
        "additionalProperties": false,
    });
    (no_headers(), properties(props), payload, binding)
}
