//! One AsyncAPI 3.0 document per service, with AMQP 0-9-1 bindings (binding
//! version 0.3.0, the one the 3.0 schema knows), for the wire and control
//! exchange the service is deployed with (`deploy.rs`).
//!
//! Channels: `requests` (routing key `<topic>`: any server), `server_requests`
//! (`<topic>.{server}`: one server), `fanout` (the `<topic>_fanout`
//! exchange: every server, casts only), `replies` (the caller's
//! `reply_<uuid>` queue, reached through `reply_to` + `correlation_id`) and
//! one per notification routing key (`notifications.info`). Each method is a
//! `receive` operation of the servers (a call's has a `reply`); each
//! notification a `send` operation. Message shapes: `messages.rs`.

use rpc_model::{Method, MethodKind, Output};
use serde_json::{Map, Value, json};

use super::deploy::{Deployment, WireKind};
use super::find::Found;
use super::messages::{self, BINCODE, BINDING_VERSION, JSON, Kind, Shape};
use super::schema::{Schemas, is_option};
use super::types::TypeDefs;
use super::yaml::to_yaml;

/// The YAML document of `found`, deployed as `deployment`.
pub(crate) fn document(found: &Found, deployment: &Deployment, defs: &TypeDefs) -> String {
    let service = &found.service;
    let wire = deployment.wire;
    let exchange = deployment.exchange.as_str();
    let mut schemas = Schemas::new(defs);
    let mut component_messages = Map::new();
    let mut request_refs = Map::new();
    let mut cast_refs = Map::new();
    let mut reply_refs = Map::new();
    for method in &service.methods {
        let name = method.name();
        let request = format!("{name}.request");
        let args = args_schema(method, wire, &found.file, &mut schemas);
        let shape = Shape {
            name: name.clone(),
            title: format!("{name} request"),
            summary: method.docs.first().map(String::as_str),
            kind: Kind::Request {
                method: &name,
                args,
                call: method.kind != MethodKind::Cast,
            },
        };
        component_messages.insert(request.clone(), messages::message(wire, shape));
        request_refs.insert(request.clone(), component_ref(&request));
        if method.is_cast() {
            cast_refs.insert(request.clone(), component_ref(&request));
        } else {
            let reply = format!("{name}.reply");
            let shape = Shape {
                name: reply.clone(),
                title: format!("{name} reply"),
                summary: None,
                kind: Kind::Reply {
                    outcomes: outcomes(method, wire, &found.file, &mut schemas),
                },
            };
            component_messages.insert(reply.clone(), messages::message(wire, shape));
            reply_refs.insert(reply.clone(), component_ref(&reply));
        }
    }

    let topic = &service.topic;
    let mut channels = Map::new();
    channels.insert(
        "requests".into(),
        json!({
            "address": topic,
            "description": format!("Calls and casts to any server of `{topic}`: the servers compete for the `{topic}` queue."),
            "messages": request_refs,
            "bindings": {"amqp": routing_key_binding(exchange, "topic", false)},
        }),
    );
    channels.insert(
        "server_requests".into(),
        json!({
            "address": format!("{topic}.{{server}}"),
            "description": format!("Calls and casts to one named server: its `{topic}.<server>` queue."),
            "parameters": {"server": {"description": "The server's name (oslo's Target.server), e.g. host-1."}},
            "messages": request_refs,
            "bindings": {"amqp": routing_key_binding(exchange, "topic", false)},
        }),
    );
    if !cast_refs.is_empty() {
        channels.insert(
            "fanout".into(),
            json!({
                "address": null,
                "description": format!("Casts to every server: the `{topic}_fanout` exchange copies each message to every server's exclusive `{topic}_fanout_<uuid>` queue."),
                "messages": cast_refs,
                "bindings": {"amqp": routing_key_binding(&format!("{topic}_fanout"), "fanout", true)},
            }),
        );
    }
    if !reply_refs.is_empty() {
        channels.insert(
            "replies".into(),
            json!({
                "address": null,
                "description": "The caller's exclusive `reply_<uuid>` queue, named in the request's `reply_to`, reached through the default exchange.",
                "messages": reply_refs,
                "bindings": {"amqp": {
                    "is": "queue",
                    "queue": {"name": "reply_<uuid>", "durable": false, "exclusive": true, "autoDelete": true, "vhost": "/"},
                    "bindingVersion": BINDING_VERSION,
                }},
            }),
        );
    }

    let mut operations = Map::new();
    for method in &service.methods {
        let name = method.name();
        operations.insert(name.clone(), operation(method, "requests", "any server"));
        operations.insert(
            format!("{name}.to_server"),
            operation(method, "server_requests", "one named server"),
        );
        if method.is_cast() {
            operations.insert(
                format!("{name}.fanout"),
                operation(method, "fanout", "every server"),
            );
        }
    }
    notifications(
        found,
        deployment,
        &mut schemas,
        &mut channels,
        &mut operations,
        &mut component_messages,
    );

    let mut named = schemas.named;
    if wire == WireKind::Native {
        for (name, schema) in messages::native_schemas() {
            named.insert(name.to_owned(), schema);
        }
    }
    let mut info = Map::new();
    info.insert("title".into(), json!(service.ident.to_string()));
    info.insert("version".into(), json!(service.version.to_string()));
    let mut description = super::types::plain_links(service.docs.join("\n").trim());
    if !description.is_empty() {
        description.push_str("\n\n");
    }
    description.push_str(&format!(
        "Deployed on the {} wire, control exchange `{exchange}` (from `{}`).",
        wire_name(wire),
        super::deploy::FILE
    ));
    info.insert("description".into(), json!(description));
    let content_type = match wire {
        WireKind::Native => BINCODE,
        WireKind::Oslo => JSON,
    };
    let document = json!({
        "asyncapi": "3.0.0",
        "info": info,
        "defaultContentType": content_type,
        "channels": channels,
        "operations": operations,
        "components": {"messages": component_messages, "schemas": named},
    });
    format!(
        "# Generated by `cargo xtask gen-docs` from the `{}` trait and {}; do not edit.\n{}",
        service.ident,
        super::deploy::FILE,
        to_yaml(&document)
    )
}

/// `native` or `oslo.messaging`.
pub(crate) fn wire_name(wire: WireKind) -> &'static str {
    match wire {
        WireKind::Native => "native",
        WireKind::Oslo => "oslo.messaging",
    }
}

/// The notification channels, operations and messages of a deployment.
fn notifications(
    found: &Found,
    deployment: &Deployment,
    schemas: &mut Schemas<'_>,
    channels: &mut Map<String, Value>,
    operations: &mut Map<String, Value>,
    component_messages: &mut Map<String, Value>,
) {
    for n in &deployment.notifications {
        let key = format!("{}.{}", n.topic, n.priority);
        let name = format!("notification.{}", n.event_type);
        let payload = match syn::parse_str::<syn::Type>(&n.payload) {
            Ok(ty) => schemas.schema(&ty, &found.file),
            Err(_) => json!({"description": format!("`{}`", n.payload)}),
        };
        let shape = Shape {
            name: name.clone(),
            title: format!("{} notification", n.event_type),
            summary: None,
            kind: Kind::Notification {
                event_type: &n.event_type,
                publisher_id: &n.publisher_id,
                priority: n.priority.to_ascii_uppercase(),
                payload,
            },
        };
        component_messages.insert(name.clone(), messages::message(deployment.wire, shape));
        let channel = format!("notifications_{}", n.priority);
        let entry = channels.entry(channel.clone()).or_insert_with(|| {
            json!({
                "address": key,
                "description": format!("Notifications at priority {}: oslo's notifier publishes to `{key}` on the control exchange; a listener without a pool reads the durable `{key}` queue, a pool its own `{key}.<pool>`-style queue.", n.priority),
                "messages": {},
                "bindings": {"amqp": routing_key_binding(&deployment.exchange, "topic", false)},
            })
        });
        entry["messages"][&name] = component_ref(&name);
        operations.insert(
            name.clone(),
            json!({
                "action": "send",
                "channel": {"$ref": format!("#/channels/{channel}")},
                "summary": format!("`{}` emitted by `{}`.", n.event_type, n.publisher_id),
                "messages": [{"$ref": format!("#/channels/{channel}/messages/{name}")}],
            }),
        );
    }
}

/// The arguments' object. On the oslo wire (by name, oslo's kwargs) an
/// `Option` argument is not required: a request without it reads it as
/// `None`, as the runtime's server and `rpcctl` do. On the native wire
/// (bincode, by position) every argument is there, a `None` in place.
fn args_schema(method: &Method, wire: WireKind, file: &str, schemas: &mut Schemas<'_>) -> Value {
    let mut properties = Map::new();
    for arg in &method.args {
        properties.insert(arg.name(), schemas.schema(&arg.ty, file));
    }
    let by_name = wire == WireKind::Oslo;
    let required: Vec<String> = method
        .args
        .iter()
        .filter(|a| !(by_name && is_option(&a.ty)))
        .map(|a| a.name())
        .collect();
    let description = if by_name && required.len() < method.args.len() {
        "The arguments by name; an `Option` one may be left out, and reads as `None`."
    } else {
        "The arguments by name."
    };
    json!({
        "type": "object",
        "description": description,
        "properties": properties,
        "required": required,
        "additionalProperties": false,
    })
}

/// A reply's outcomes: the value, and on the native wire the manager's
/// error and the framework's (on the oslo wire both are oslo's failure
/// string).
fn outcomes(method: &Method, wire: WireKind, file: &str, schemas: &mut Schemas<'_>) -> Vec<Value> {
    let mut outcomes = Vec::new();
    match &method.output {
        Output::Unit => outcomes.push(json!({"title": "ok", "type": "null"})),
        Output::Value(ty) | Output::Fallible { ok: ty, .. } => {
            outcomes.push(with_title("ok", schemas.schema(ty, file)));
        }
        Output::Stream { item, .. } => {
            outcomes.push(with_title("item", schemas.schema(item, file)));
            outcomes.push(json!({"title": "end", "type": "null"}));
        }
    }
    if wire == WireKind::Native {
        if let Output::Fallible { err, .. } | Output::Stream { err, .. } = &method.output {
            outcomes.push(with_title("error", schemas.schema(err, file)));
        }
        let failure: syn::Type = syn::parse_quote!(RpcError);
        outcomes.push(with_title("failure", schemas.schema(&failure, file)));
    }
    outcomes
}

fn component_ref(name: &str) -> Value {
    json!({"$ref": format!("#/components/messages/{name}")})
}

fn routing_key_binding(exchange: &str, kind: &str, auto_delete: bool) -> Value {
    json!({
        "is": "routingKey",
        "exchange": {"name": exchange, "type": kind, "durable": false, "autoDelete": auto_delete, "vhost": "/"},
        "bindingVersion": BINDING_VERSION,
    })
}

fn operation(method: &Method, channel: &str, reach: &str) -> Value {
    let name = method.name();
    let mut op = Map::new();
    op.insert("action".into(), json!("receive"));
    op.insert(
        "channel".into(),
        json!({"$ref": format!("#/channels/{channel}")}),
    );
    op.insert(
        "summary".into(),
        json!(format!(
            "`{name}` ({}) sent to {reach}.",
            method.kind.as_str()
        )),
    );
    op.insert(
        "messages".into(),
        json!([{"$ref": format!("#/channels/{channel}/messages/{name}.request")}]),
    );
    if method.kind != MethodKind::Cast {
        op.insert(
            "reply".into(),
            json!({
                "address": {"location": "$message.header#/reply_to", "description": "The reply_to property of the request."},
                "channel": {"$ref": "#/channels/replies"},
                "messages": [{"$ref": format!("#/channels/replies/messages/{name}.reply")}],
            }),
        );
    }
    op.insert(
        "bindings".into(),
        json!({"amqp": {"ack": true, "bindingVersion": BINDING_VERSION}}),
    );
    Value::Object(op)
}

fn with_title(title: &str, schema: Value) -> Value {
    match schema {
        Value::Object(mut map) if !map.contains_key("$ref") => {
            map.insert("title".into(), json!(title));
            Value::Object(map)
        }
        other => json!({"title": title, "allOf": [other]}),
    }
}
