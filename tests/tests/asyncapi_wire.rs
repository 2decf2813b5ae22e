//! The AsyncAPI documents match the wire. Real requests (a call and a cast)
//! and a real notification, published by the runtime on each wire to a
//! broker, are captured by a tap queue bound to the control exchange; each
//! travels a channel its document lists it on (routing key and exchange)
//! and validates against its message's `headers`, `x-amqp-properties` and
//! `payload` schemas with a JSON-Schema validator (draft 7, the base of
//! AsyncAPI's schema format). A native body is decoded the way the
//! document describes it (format byte, bincode preamble, positional
//! arguments); an oslo body's `oslo.message` against its `contentSchema`.

use std::time::Duration;

use amqprs::channel::{
    BasicConsumeArguments, ExchangeDeclareArguments, QueueBindArguments, QueueDeclareArguments,
};
use amqprs::{BasicProperties, FieldValue};
use examples::compute::{ComputeManagerClient, RulesRefreshed};
use examples::services::{VolumeManagerClient, VolumeUsage};
use rpc_runtime::notify::Notifier;
use rpc_runtime::wire::Wire;
use rpc_runtime::{AmqpConfig, Context, RpcError};
use rpc_tests::env::{OwnVhost, raw_connection_to};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use tokio::sync::mpsc::UnboundedReceiver;

/// One AsyncAPI document, as JSON.
struct Doc {
    name: String,
    root: Value,
}

impl Doc {
    fn load(service: &str) -> Self {
        let path = format!(
            "{}/../docs/rpc/{service}.asyncapi.yaml",
            env!("CARGO_MANIFEST_DIR")
        );
        let text = std::fs::read_to_string(&path).expect("the committed document");
        let root: Value = serde_yaml_ng::from_str(&text).expect("the document is YAML");
        Self {
            name: service.to_owned(),
            root,
        }
    }

    /// The exchange of a channel's AMQP binding, with its flags.
    fn exchange(&self, channel: &str) -> (String, bool, bool) {
        let exchange = &self.root["channels"][channel]["bindings"]["amqp"]["exchange"];
        (
            exchange["name"]
                .as_str()
                .expect("an exchange name")
                .to_owned(),
            exchange["durable"].as_bool().expect("durable"),
            exchange["autoDelete"].as_bool().expect("autoDelete"),
        )
    }

    /// Errors of `instance` against the schema at `pointer`, resolved in the
    /// whole document (its `$ref`s point into `components`).
    fn errors(&self, pointer: &str, instance: &Value) -> Vec<String> {
        let mut root = self.root.clone();
        root["$ref"] = json!(format!("#{pointer}"));
        let validator = jsonschema::draft7::new(&root)
            .unwrap_or_else(|e| panic!("{}: the schema at {pointer} is invalid: {e}", self.name));
        validator
            .iter_errors(instance)
            .map(|e| format!("{pointer}: {e} (at `{}`)", e.instance_path()))
            .collect()
    }

    /// Whether a channel listing `message` has an address matching
    /// `routing_key` and a binding on `exchange`.
    fn routes(&self, message: &str, exchange: &str, routing_key: &str) -> bool {
        let wanted = format!("#/components/messages/{message}");
        let channels = self.root["channels"].as_object().expect("channels");
        channels.values().any(|channel| {
            let lists = channel["messages"]
                .as_object()
                .is_some_and(|m| m.values().any(|r| r["$ref"] == wanted));
            let address = channel["address"].as_str().unwrap_or_default();
            let bound = channel["bindings"]["amqp"]["exchange"]["name"] == exchange;
            lists && bound && address_matches(address, routing_key)
        })
    }
}

/// `volume.{server}` matches `volume.host-1`.
fn address_matches(address: &str, routing_key: &str) -> bool {
    let parts: Vec<&str> = address.split('.').collect();
    let keys: Vec<&str> = routing_key.split('.').collect();
    parts.len() == keys.len()
        && parts
            .iter()
            .zip(&keys)
            .all(|(p, k)| p == k || (p.starts_with('{') && p.ends_with('}') && !k.is_empty()))
}

/// A message as the tap received it.
struct Captured {
    exchange: String,
    routing_key: String,
    properties: Value,
    headers: Value,
    body: Vec<u8>,
}

/// Every AMQP basic property that is set, by its AMQP name; and the header
/// table (a value that is not a string is shown as such, and fails).
fn properties_of(props: &BasicProperties) -> (Value, Value) {
    let mut out = Map::new();
    let mut put = |name: &str, value: Option<Value>| {
        if let Some(value) = value {
            out.insert(name.to_owned(), value);
        }
    };
    put("content_type", props.content_type().map(|v| json!(v)));
    put(
        "content_encoding",
        props.content_encoding().map(|v| json!(v)),
    );
    put("delivery_mode", props.delivery_mode().map(|v| json!(v)));
    put("priority", props.priority().map(|v| json!(v)));
    put("correlation_id", props.correlation_id().map(|v| json!(v)));
    put("reply_to", props.reply_to().map(|v| json!(v)));
    put("expiration", props.expiration().map(|v| json!(v)));
    put("message_id", props.message_id().map(|v| json!(v)));
    put("timestamp", props.timestamp().map(|v| json!(v)));
    put("type", props.message_type().map(|v| json!(v)));
    put("user_id", props.user_id().map(|v| json!(v)));
    put("app_id", props.app_id().map(|v| json!(v)));
    put("cluster_id", props.cluster_id().map(|v| json!(v)));
    let mut headers = Map::new();
    if let Some(table) = props.headers() {
        for (name, value) in table.as_ref() {
            let name: &String = name.as_ref();
            let value = match value {
                FieldValue::S(text) => json!(text.as_ref()),
                other => json!({"not a string": format!("{other:?}")}),
            };
            headers.insert(name.clone(), value);
        }
    }
    (Value::Object(out), Value::Object(headers))
}

/// A tap: an exclusive queue bound to `exchange` with `#`, declared on a
/// connection of its own (the exchange declared first with the document's
/// flags, so a runtime declaring it otherwise would fail).
async fn tap(
    url: &str,
    (exchange, durable, auto_delete): &(String, bool, bool),
) -> (amqprs::connection::Connection, UnboundedReceiver<Captured>) {
    let connection = raw_connection_to(url).await.expect("connect");
    let channel = connection.open_channel(None).await.expect("channel");
    channel
        .exchange_declare(
            ExchangeDeclareArguments::new(exchange, "topic")
                .durable(*durable)
                .auto_delete(*auto_delete)
                .finish(),
        )
        .await
        .expect("the documented exchange");
    let (queue, _, _) = channel
        .queue_declare(QueueDeclareArguments::new("").exclusive(true).finish())
        .await
        .expect("declare the tap")
        .expect("a name");
    channel
        .queue_bind(QueueBindArguments::new(&queue, exchange, "#"))
        .await
        .expect("bind the tap");
    let (_tag, mut deliveries) = channel
        .basic_consume_rx(
            BasicConsumeArguments::new(&queue, "tap")
                .auto_ack(true)
                .finish(),
        )
        .await
        .expect("consume the tap");
    let (sender, receiver) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        let _channel = channel;
        while let Some(message) = deliveries.recv().await {
            let (Some(deliver), Some(props)) = (message.deliver, message.basic_properties) else {
                continue;
            };
            let (properties, headers) = properties_of(&props);
            let captured = Captured {
                exchange: deliver.exchange().clone(),
                routing_key: deliver.routing_key().clone(),
                properties,
                headers,
                body: message.content.unwrap_or_default(),
            };
            if sender.send(captured).is_err() {
                break;
            }
        }
    });
    (connection, receiver)
}

/// The first `n` captured messages, within 10 s.
async fn take(receiver: &mut UnboundedReceiver<Captured>, n: usize) -> Vec<Captured> {
    let mut out = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while out.len() < n {
        match tokio::time::timeout_at(deadline, receiver.recv()).await {
            Ok(Some(captured)) => out.push(captured),
            _ => panic!("the tap got {} of {n} messages within 10 s", out.len()),
        }
    }
    out
}

/// Validates one captured message against component `message`: its
/// channel, properties, headers and the payload as decoded.
fn check(doc: &Doc, message: &str, captured: &Captured, payload: &Value) -> Vec<String> {
    let at = format!("/components/messages/{message}");
    assert!(
        doc.root.pointer(&at).is_some(),
        "{}: no message `{message}`",
        doc.name
    );
    let mut errors = Vec::new();
    if !doc.routes(message, &captured.exchange, &captured.routing_key) {
        errors.push(format!(
            "{message}: no channel of the document carries it on exchange `{}` with routing key `{}`",
            captured.exchange, captured.routing_key
        ));
    }
    errors.extend(doc.errors(&format!("{at}/x-amqp-properties"), &captured.properties));
    errors.extend(doc.errors(&format!("{at}/headers"), &captured.headers));
    errors.extend(doc.errors(&format!("{at}/payload"), payload));
    errors
}

/// The native preamble as the document describes it (`NativePreamble`).
#[derive(Debug, Serialize, Deserialize)]
struct Preamble {
    version: String,
    namespace: Option<String>,
    timeout_ms: Option<u64>,
    call_monitor_ms: Option<u64>,
    context: ContextPreamble,
}

/// `NativeContext`.
#[derive(Debug, Serialize, Deserialize)]
struct ContextPreamble {
    request_id: String,
    user_id: Option<String>,
    project_id: Option<String>,
    roles: Vec<String>,
    auth_token: Option<String>,
    values: Vec<(String, String)>,
    raw_values: Vec<(String, String)>,
    trace: Option<String>,
}

/// A native request body decoded per the document: the format byte, the
/// preamble, then arguments of types `A` (positional), named `names`. Fails
/// when bytes are left over.
fn native_request<A: serde::de::DeserializeOwned + Serialize>(
    body: &[u8],
    names: &[&str],
) -> Value {
    let config = bincode::config::standard();
    let (&format, rest) = body.split_first().expect("a body");
    let (preamble, read): (Preamble, usize) =
        bincode::serde::decode_from_slice(rest, config).expect("the preamble decodes");
    let (args, used): (A, usize) =
        bincode::serde::decode_from_slice(&rest[read..], config).expect("the arguments decode");
    assert_eq!(read + used, rest.len(), "no bytes after the arguments");
    let values = match serde_json::to_value(&args).expect("JSON") {
        Value::Array(values) => values,
        Value::Null => Vec::new(),
        one => vec![one],
    };
    assert_eq!(values.len(), names.len());
    let args: Map<String, Value> = names.iter().map(|n| (*n).to_owned()).zip(values).collect();
    json!({"format": format, "preamble": preamble, "args": args})
}

/// The context every message carries: each kind of field set.
fn context() -> Context {
    Context::new()
        .with_user_id("user-1")
        .with_project_id("project-1")
        .with_roles(["admin", "member"])
        .with_auth_token("token-1")
        .with_value("region", "one")
        .with_raw_value("is_admin", "true")
        .with_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
}

fn kind_of(captured: &Captured) -> &str {
    if captured.routing_key.starts_with("notifications.") {
        "notification"
    } else if captured.properties.get("reply_to").is_some() {
        "call"
    } else {
        "cast"
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn native_requests_and_notifications_match_the_document() {
    let Some(vhost) = OwnVhost::new("asyncapi-native") else {
        return;
    };
    let doc = Doc::load("VolumeManager");
    let exchange = doc.exchange("requests");
    let (_tap, mut captured) = tap(&vhost.url, &exchange).await;
    let transport = AmqpConfig::from_url(&vhost.url)
        .expect("url")
        .control_exchange(&exchange.0)
        .connect()
        .await
        .expect("connect");
    let ctx = context();
    let client = VolumeManagerClient::new(&transport).timeout(Duration::from_secs(1));
    client
        .to_server("host-1")
        .create_volume(&ctx, 7, "db".to_owned(), 10)
        .await
        .expect("the cast is confirmed");
    // Nobody serves `volume`: the request is captured, the call times out.
    let call = client.list_volumes(&ctx).await;
    assert!(matches!(call, Err(RpcError::Timeout { .. })), "{call:?}");
    let usage = VolumeUsage {
        volume_id: 7,
        name: "db".to_owned(),
        size_gb: 10,
        host: "host-1".to_owned(),
    };
    Notifier::new(&transport, "volume.host-1")
        .info(&ctx, "volume.create.end", &usage)
        .await
        .expect("the notification is confirmed");

    let mut errors = Vec::new();
    let mut seen = Vec::new();
    for message in take(&mut captured, 3).await {
        let kind = kind_of(&message);
        seen.push(kind.to_owned());
        let (component, payload) = match kind {
            "cast" => (
                "create_volume.request",
                native_request::<(u64, String, u32)>(
                    &message.body,
                    &["volume_id", "name", "size_gb"],
                ),
            ),
            "call" => (
                "list_volumes.request",
                native_request::<()>(&message.body, &[]),
            ),
            _ => {
                let (usage, _): (VolumeUsage, usize) =
                    bincode::serde::decode_from_slice(&message.body, bincode::config::standard())
                        .expect("the payload decodes");
                (
                    "notification.volume.create.end",
                    serde_json::to_value(usage).expect("JSON"),
                )
            }
        };
        errors.extend(check(&doc, component, &message, &payload));
    }
    seen.sort();
    assert_eq!(seen, ["call", "cast", "notification"]);
    assert!(errors.is_empty(), "{errors:#?}");
    transport.close().await;
    drop(vhost);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oslo_requests_and_notifications_match_the_document() {
    let Some(vhost) = OwnVhost::new("asyncapi-oslo") else {
        return;
    };
    let doc = Doc::load("ComputeManager");
    let exchange = doc.exchange("requests");
    let (_tap, mut captured) = tap(&vhost.url, &exchange).await;
    let transport = AmqpConfig::from_url(&vhost.url)
        .expect("url")
        .wire(Wire::Oslo)
        .control_exchange(&exchange.0)
        .connect()
        .await
        .expect("connect");
    let ctx = context();
    let client = ComputeManagerClient::new(&transport)
        .timeout(Duration::from_secs(1))
        .call_monitor(Duration::from_secs(3));
    let instance = json!({"nova_object.name": "Instance", "nova_object.data": {"uuid": "9f6c"}});
    client
        .to_server("compute-rs-1")
        .refresh_instance_security_rules(&ctx, instance)
        .await
        .expect("the cast is confirmed");
    let call = client.get_host_uptime(&ctx).await;
    assert!(matches!(call, Err(RpcError::Timeout { .. })), "{call:?}");
    let refreshed = RulesRefreshed {
        instance_uuid: "9f6c".to_owned(),
        host: "compute-rs-1".to_owned(),
    };
    Notifier::new(&transport, "compute.compute-rs-1")
        .info(&ctx, "compute.security_rules.refreshed", &refreshed)
        .await
        .expect("the notification is confirmed");

    let mut errors = Vec::new();
    let mut seen = Vec::new();
    for message in take(&mut captured, 3).await {
        let payload: Value = serde_json::from_slice(&message.body).expect("a JSON body");
        let inner: Value = serde_json::from_str(payload["oslo.message"].as_str().unwrap_or("null"))
            .expect("oslo.message holds JSON");
        let component = match inner["event_type"].as_str() {
            Some(event) => format!("notification.{event}"),
            None => format!("{}.request", inner["method"].as_str().unwrap_or("?")),
        };
        seen.push(component.clone());
        errors.extend(check(&doc, &component, &message, &payload));
        let content = format!(
            "/components/messages/{component}/payload/properties/oslo.message/contentSchema"
        );
        errors.extend(doc.errors(&content, &inner));
    }
    seen.sort();
    assert_eq!(
        seen,
        [
            "get_host_uptime.request",
            "notification.compute.security_rules.refreshed",
            "refresh_instance_security_rules.request"
        ]
    );
    assert!(errors.is_empty(), "{errors:#?}");
    transport.close().await;
    drop(vhost);
}

#[test]
fn a_message_off_its_schema_is_caught() {
    // The validator is not a rubber stamp: a header the document does not
    // list, or a wrong payload, is an error.
    let doc = Doc::load("VolumeManager");
    let at = "/components/messages/notification.volume.create.end";
    let headers = json!({"x-event-type": "volume.create.end", "x-unknown": "1"});
    assert!(!doc.errors(&format!("{at}/headers"), &headers).is_empty());
    let payload = json!({"volume_id": "seven"});
    assert!(!doc.errors(&format!("{at}/payload"), &payload).is_empty());
    assert!(address_matches("volume.{server}", "volume.host-1"));
    assert!(!address_matches("volume.{server}", "volume"));
}
