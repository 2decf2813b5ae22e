//! The requests rpcctl sends: JSON bodies through the transport's wire
//! format (native with JSON bodies, or oslo.messaging's), checked against
//! what the servers describe.

use std::time::Duration;

use rpc_runtime::builtin::{self, MethodDescription, PingReply, ServiceDescription};
use rpc_runtime::codec::{AnyCodec, Codec, Json};
use rpc_runtime::message::Message;
use rpc_runtime::wire::{NativeWire, OsloWire, OutgoingRequest, ReplyBody, Wire, WireFormat};
use rpc_runtime::{Context, Destination, RpcError, Transport};
use serde_json::{Map, Value};

use crate::Failure;
use crate::output;

/// The transport's wire format, with JSON bodies.
fn wire(transport: &Transport) -> Box<dyn WireFormat> {
    match transport.speaks() {
        Wire::Oslo => Box::new(OsloWire::default()),
        _ => Box::new(NativeWire::new(AnyCodec::Json(Json::default()))),
    }
}

/// A JSON request for `method`.
fn request(
    transport: &Transport,
    method: &str,
    version: &str,
    namespace: Option<&str>,
    timeout: Option<Duration>,
    body: Vec<u8>,
) -> Message {
    let context = Context::new().with_value("client", "rpcctl");
    wire(transport).encode_request(OutgoingRequest {
        method,
        version,
        namespace,
        context: &context,
        timeout,
        call_monitor: None,
        body,
    })
}

fn destination(topic: &str, server: Option<&str>) -> Destination {
    match server {
        Some(server) => Destination::Server {
            topic: topic.to_owned(),
            server: server.to_owned(),
        },
        None => Destination::Topic {
            topic: topic.to_owned(),
        },
    }
}

/// Reads a reply: the JSON value, or the failure.
fn read_reply(transport: &Transport, reply: Message) -> Result<Value, Failure> {
    let json = Json::default();
    match wire(transport).decode_reply(reply)? {
        ReplyBody::Value(body) => json
            .decode(&body)
            .map_err(|e| Failure::Answered(format!("undecodable reply: {e}"))),
        ReplyBody::Error(error) => {
            let error: Value = json
                .decode(&error.body)
                .map_err(|e| Failure::Answered(format!("undecodable error: {e}")))?;
            Err(Failure::Answered(format!("the method failed: {error}")))
        }
        ReplyBody::Failure(error) => Err(Failure::from(error)),
    }
}

fn nobody(topic: &str, error: RpcError) -> Failure {
    match error {
        RpcError::Undeliverable { .. } => {
            Failure::Unreachable(format!("no server listens on topic `{topic}`"))
        }
        other => Failure::from(other),
    }
}

/// `rpcctl ping`.
pub(crate) async fn ping(
    transport: &Transport,
    topic: &str,
    window: Duration,
) -> Result<(), Failure> {
    let answers = gather_pings(transport, topic, window).await?;
    if answers.is_empty() {
        return Err(Failure::Unreachable(format!(
            "no server of `{topic}` answered within {window:?}"
        )));
    }
    output::ping_table(&answers);
    Ok(())
}

/// The servers of `topic` answering a fanout ping, with their latency.
pub(crate) async fn gather_pings(
    transport: &Transport,
    topic: &str,
    window: Duration,
) -> Result<Vec<(Duration, PingReply)>, Failure> {
    let message = request(
        transport,
        builtin::PING,
        "1.0",
        None,
        Some(window),
        b"{}".to_vec(),
    );
    let fanout = Destination::Fanout {
        topic: topic.to_owned(),
    };
    let replies = transport
        .gather(fanout, message, window)
        .await
        .map_err(|e| nobody(topic, e))?;
    let mut answers = Vec::new();
    for (latency, reply) in replies {
        let value = read_reply(transport, reply)?;
        let ping: PingReply = serde_json::from_value(value)
            .map_err(|e| Failure::Answered(format!("undecodable ping reply: {e}")))?;
        answers.push((latency, ping));
    }
    answers.sort_by(|a, b| a.1.server.cmp(&b.1.server));
    Ok(answers)
}

/// What the servers of `topic` (or one of them) describe.
async fn fetch_description(
    transport: &Transport,
    topic: &str,
    server: Option<&str>,
    timeout: Duration,
) -> Result<ServiceDescription, Failure> {
    let message = request(
        transport,
        builtin::DESCRIBE,
        "1.0",
        None,
        Some(timeout),
        b"{}".to_vec(),
    );
    let reply = transport
        .call_raw(destination(topic, server), message, timeout)
        .await
        .map_err(|e| nobody(topic, e))?;
    serde_json::from_value(read_reply(transport, reply)?)
        .map_err(|e| Failure::Answered(format!("undecodable description: {e}")))
}

/// `rpcctl describe`.
pub(crate) async fn describe(
    transport: &Transport,
    topic: &str,
    server: Option<&str>,
    timeout: Duration,
) -> Result<(), Failure> {
    let description = fetch_description(transport, topic, server, timeout).await?;
    output::description(&description);
    Ok(())
}

/// Checks `args` (a JSON object) against the method's arguments and
/// returns the body to send.
fn check_args(method: &MethodDescription, args: &str) -> Result<Vec<u8>, Failure> {
    let value: Value = serde_json::from_str(args)
        .map_err(|e| Failure::Usage(format!("the arguments are not JSON: {e}")))?;
    let Value::Object(given) = value else {
        return Err(Failure::Usage(
            "the arguments must be a JSON object of named arguments".into(),
        ));
    };
    let names: Vec<&str> = method.args.iter().map(|(name, _)| name.as_str()).collect();
    let takes = if names.is_empty() {
        "no arguments".to_owned()
    } else {
        names.join(", ")
    };
    if let Some(unknown) = given.keys().find(|k| !names.contains(&k.as_str())) {
        return Err(Failure::Usage(format!(
            "unknown argument `{unknown}`: `{}` takes {takes}",
            method.name
        )));
    }
    if let Some(missing) = names.iter().find(|n| !given.contains_key(**n)) {
        return Err(Failure::Usage(format!(
            "missing argument `{missing}`: `{}` takes {takes}",
            method.name
        )));
    }
    let ordered: Map<String, Value> = names
        .iter()
        .filter_map(|n| given.get(*n).map(|v| ((*n).to_owned(), v.clone())))
        .collect();
    serde_json::to_vec(&Value::Object(ordered)).map_err(|e| Failure::Usage(e.to_string()))
}

/// The method `name` of `service`, of the expected kind.
fn find_method<'a>(
    service: &'a ServiceDescription,
    name: &str,
    kind: &str,
) -> Result<&'a MethodDescription, Failure> {
    let method = service
        .methods
        .iter()
        .find(|m| m.name == name)
        .ok_or_else(|| {
            let known: Vec<&str> = service.methods.iter().map(|m| m.name.as_str()).collect();
            Failure::Usage(format!(
                "`{}` has no method `{name}`; it has {}",
                service.name,
                known.join(", ")
            ))
        })?;
    if method.kind != kind {
        return Err(Failure::Usage(format!(
            "`{name}` is a {}; use `rpcctl {}`",
            method.kind, method.kind
        )));
    }
    Ok(method)
}

fn required_version(service: &ServiceDescription, method: &MethodDescription) -> String {
    method.since.clone().unwrap_or_else(|| {
        let major = service.version.split('.').next().unwrap_or("1");
        format!("{major}.0")
    })
}

/// `rpcctl call`.
pub(crate) async fn call(
    transport: &Transport,
    topic: &str,
    method: &str,
    args: &str,
    server: Option<&str>,
    timeout: Duration,
) -> Result<(), Failure> {
    let service = fetch_description(transport, topic, server, timeout).await?;
    let described = find_method(&service, method, "call")?;
    let body = check_args(described, args)?;
    let message = request(
        transport,
        method,
        &required_version(&service, described),
        service.namespace.as_deref(),
        Some(timeout),
        body,
    );
    let reply = transport
        .call_raw(destination(topic, server), message, timeout)
        .await
        .map_err(|e| nobody(topic, e))?;
    output::json(&read_reply(transport, reply)?);
    Ok(())
}

/// Where a cast goes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Target<'a> {
    pub(crate) server: Option<&'a str>,
    pub(crate) fanout: bool,
}

/// `rpcctl cast`.
pub(crate) async fn cast(
    transport: &Transport,
    topic: &str,
    method: &str,
    args: &str,
    target: Target<'_>,
    timeout: Duration,
) -> Result<(), Failure> {
    let service = fetch_description(transport, topic, target.server, timeout).await?;
    let described = find_method(&service, method, "cast")?;
    let body = check_args(described, args)?;
    let mut message = request(
        transport,
        method,
        &required_version(&service, described),
        service.namespace.as_deref(),
        None,
        body,
    );
    message.persistent = true;
    let to = if target.fanout {
        Destination::Fanout {
            topic: topic.to_owned(),
        }
    } else {
        destination(topic, target.server)
    };
    transport
        .cast_raw(to, message, timeout)
        .await
        .map_err(|e| nobody(topic, e))?;
    eprintln!("rpcctl: `{method}` cast to `{topic}`, confirmed by the broker");
    Ok(())
}
