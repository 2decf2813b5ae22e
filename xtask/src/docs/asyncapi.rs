//! One AsyncAPI 3.0 document per service, with AMQP 0-9-1 bindings (binding
//! version 0.3.0, the one the 3.0 schema knows).
//!
//! Channels: `requests` (routing key `<topic>`: any server), `server_requests`
//! (`<topic>.{server}`: one server), `fanout` (the `<topic>_fanout`
//! exchange: every server, casts only) and `replies` (the caller's
//! `reply_<uuid>` queue, reached through `reply_to` + `correlation_id`).
//! Each method is a `receive` operation of the servers; a call's operation
//! has a `reply`.

use rpc_model::{Method, MethodKind, Output, Service};
use serde_json::{Map, Value, json};

use super::schema::{Named, schema};
use super::yaml::to_yaml;

const BINDING_VERSION: &str = "0.3.0";
const CONTENT_TYPE: &str = "application/x-bincode";

/// The YAML document of `service`.
pub(crate) fn document(service: &Service) -> String {
    let mut named = Named::new();
    let mut component_messages = Map::new();
    let mut request_refs = Map::new();
    let mut cast_refs = Map::new();
    let mut reply_refs = Map::new();
    for method in &service.methods {
        let name = method.name();
        let request = format!("{name}.request");
        component_messages.insert(
            request.clone(),
            request_message(service, method, &mut named),
        );
        request_refs.insert(request.clone(), component_ref(&request));
        if method.is_cast() {
            cast_refs.insert(request.clone(), component_ref(&request));
        } else {
            let reply = format!("{name}.reply");
            component_messages.insert(reply.clone(), reply_message(method, &mut named));
            reply_refs.insert(reply.clone(), component_ref(&reply));
        }
    }
    named.insert(
        "RpcError".to_owned(),
        json!({
            "title": "rpc_runtime::RpcError",
            "description": "A framework failure: unknown method, undecodable request, unsupported version, a panic in the manager, ...",
        }),
    );

    let topic = &service.topic;
    let mut channels = Map::new();
    channels.insert(
        "requests".into(),
        json!({
            "address": topic,
            "description": format!("Calls and casts to any server of `{topic}`: the servers compete for the `{topic}` queue."),
            "messages": request_refs,
            "bindings": {"amqp": routing_key_binding("openstack", "topic", false)},
        }),
    );
    channels.insert(
        "server_requests".into(),
        json!({
            "address": format!("{topic}.{{server}}"),
            "description": format!("Calls and casts to one named server: its `{topic}.<server>` queue."),
            "parameters": {"server": {"description": "The server's name (oslo's Target.server), e.g. host-1."}},
            "messages": request_refs,
            "bindings": {"amqp": routing_key_binding("openstack", "topic", false)},
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
                "description": "The caller's exclusive `reply_<uuid>` queue, named in the request's `reply_to`; replies carry the request's `correlation_id`.",
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

    let mut info = Map::new();
    info.insert("title".into(), json!(service.ident.to_string()));
    info.insert("version".into(), json!(service.version.to_string()));
    if !service.docs.is_empty() {
        info.insert("description".into(), json!(service.docs.join("\n").trim()));
    }
    let document = json!({
        "asyncapi": "3.0.0",
        "info": info,
        "defaultContentType": CONTENT_TYPE,
        "channels": channels,
        "operations": operations,
        "components": {"messages": component_messages, "schemas": named},
    });
    format!(
        "# Generated by `cargo xtask gen-docs` from the `{}` trait; do not edit.\n{}",
        service.ident,
        to_yaml(&document)
    )
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
    if method.kind == MethodKind::Call {
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

fn request_message(service: &Service, method: &Method, named: &mut Named) -> Value {
    let name = method.name();
    let mut properties = Map::new();
    for arg in &method.args {
        properties.insert(arg.name(), schema(&arg.ty, named));
    }
    let required: Vec<String> = method.args.iter().map(|a| a.name()).collect();
    let version = method
        .since
        .map_or_else(|| format!("{}.0", service.version.major), |v| v.to_string());
    let mut message = Map::new();
    message.insert("name".into(), json!(name));
    message.insert("title".into(), json!(format!("{name} request")));
    if let Some(summary) = method.docs.first() {
        message.insert("summary".into(), json!(summary));
    }
    let layout = format!(
        "The body is the byte 2 (native wire v2), a bincode preamble (API version `{version}`, namespace, the caller's timeout in ms from receipt, call-monitor ms, context: request id, user, project, roles, auth token, values, W3C traceparent), then the arguments, in this order (bincode encodes them positionally). The method is the AMQP `type` property."
    );
    message.insert(
        "payload".into(),
        json!({
            "type": "object",
            "description": layout,
            "properties": properties,
            "required": required,
        }),
    );
    if method.kind == MethodKind::Call {
        message.insert(
            "correlationId".into(),
            json!({"location": "$message.header#/correlation_id"}),
        );
    }
    message.insert(
        "bindings".into(),
        json!({"amqp": {"messageType": name, "bindingVersion": BINDING_VERSION}}),
    );
    Value::Object(message)
}

fn reply_message(method: &Method, named: &mut Named) -> Value {
    let name = method.name();
    let mut outcomes = Vec::new();
    match &method.output {
        Output::Unit => outcomes.push(json!({"title": "ok", "type": "null"})),
        Output::Value(ty) => outcomes.push(with_title("ok", schema(ty, named))),
        Output::Fallible { ok, err } => {
            outcomes.push(with_title("ok", schema(ok, named)));
            outcomes.push(with_title("error", schema(err, named)));
        }
    }
    outcomes.push(json!({"title": "failure", "$ref": "#/components/schemas/RpcError"}));
    json!({
        "name": format!("{name}.reply"),
        "title": format!("{name} reply"),
        "payload": {
            "description": "Selected by the AMQP `type` property: `ok` the value, `error` the manager's error, `failure` a framework error; `heartbeat` has no body.",
            "oneOf": outcomes,
        },
        "correlationId": {"location": "$message.header#/correlation_id"},
    })
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
