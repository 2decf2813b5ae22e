//! The requests rpcctl sends: JSON bodies through the transport's wire
//! format (native with JSON bodies, or oslo.messaging's), checked against
//! what the servers describe.

use std::time::Duration;

use rpc_runtime::builtin::{self, MethodDescription, PingReply, ServiceDescription};
use rpc_runtime::codec::{AnyCodec, Codec, Json};
use rpc_runtime::descriptor::optional_type;
use rpc_runtime::message::Message;
use rpc_runtime::wire::{NativeWire, OsloWire, OutgoingRequest, ReplyBody, Wire, WireFormat};
use rpc_runtime::{CallOptions, Context, Destination, RpcError, Transport, topology};
use serde_json::{Map, Value};

use crate::failure::Failure;
use crate::output::Output;

/// The transport's wire format, with JSON bodies.
fn wire(transport: &Transport) -> Box<dyn WireFormat> {
    match transport.speaks() {
        Some(Wire::Oslo) => Box::new(OsloWire::default()),
        _ => Box::new(NativeWire::new(AnyCodec::Json(Json::default()))),
    }
}

/// A JSON request for `method`.
pub(crate) fn request(
    transport: &Transport,
    method: &str,
    version: &str,
    namespace: Option<&str>,
    timeout: Option<Duration>,
    body: Vec<u8>,
) -> Message {
    let context = Context::new().with_value("client", "rpcctl");
    let mut options = CallOptions::new();
    options.timeout = timeout;
    wire(transport).encode_request(OutgoingRequest {
        trace: None,
        method: method.to_owned().into(),
        version,
        namespace,
        context: &context,
        options: &options,
        body,
    })
}

/// Where a request goes: a topic, one of its servers, or all of them.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Target<'a> {
    pub(crate) topic: &'a str,
    pub(crate) server: Option<&'a str>,
    pub(crate) fanout: bool,
}

impl Target<'_> {
    pub(crate) fn destination(&self) -> Destination {
        let topic = self.topic.to_owned();
        match (self.fanout, self.server) {
            (true, _) => Destination::Fanout { topic },
            (false, Some(server)) => Destination::Server {
                topic,
                server: server.to_owned(),
            },
            (false, None) => Destination::Topic { topic },
        }
    }

    /// The destination in words, with the queue or exchange it names.
    pub(crate) fn describe(&self) -> String {
        match (self.fanout, self.server) {
            (true, _) => format!(
                "every server of `{}` (exchange `{}`)",
                self.topic,
                topology::fanout_exchange(self.topic)
            ),
            (false, Some(server)) => format!(
                "server `{server}` of `{}` (queue `{}`)",
                self.topic,
                topology::server_queue(self.topic, server)
            ),
            (false, None) => format!("topic `{}`", self.topic),
        }
    }

    /// Why the broker could not route to this destination.
    fn nobody(&self) -> String {
        let topic = self.topic;
        match (self.fanout, self.server) {
            (true, _) => format!(
                "no server of `{topic}` listens (exchange `{}` routes to no queue)",
                topology::fanout_exchange(topic)
            ),
            (false, Some(server)) => format!(
                "no server `{server}` listens on `{topic}` (queue `{}` does not exist)",
                topology::server_queue(topic, server)
            ),
            (false, None) => format!("no server listens on topic `{topic}`"),
        }
    }

    /// The failure for `error` on the way to this destination.
    pub(crate) fn failed(&self, error: RpcError) -> Failure {
        match error {
            RpcError::Undeliverable { .. } => Failure::NoAnswer(self.nobody()),
            other => Failure::from(other),
        }
    }
}

/// Reads a reply: the JSON value, or the failure.
pub(crate) fn read_reply(transport: &Transport, reply: Message) -> Result<Value, Failure> {
    match wire(transport).decode_reply(reply)? {
        ReplyBody::Value(body) => Json::default()
            .decode(&body)
            .map_err(|e| Failure::Answered(format!("undecodable reply: {e}"), None)),
        failed => Err(answered_error(failed)),
    }
}

/// The failure of a method that answered with its error or a framework's.
pub(crate) fn answered_error(reply: ReplyBody) -> Failure {
    let json = Json::default();
    match reply {
        ReplyBody::Value(_) => Failure::Answered("the method answered".to_owned(), None),
        ReplyBody::Error(error) => {
            let value: Option<Value> = json.decode(&error.body).ok();
            let message = if error.message.is_empty() {
                value.as_ref().map_or_else(String::new, Value::to_string)
            } else {
                error.message
            };
            Failure::Answered(format!("the method failed: {message}"), value)
        }
        ReplyBody::Failure(error) => Failure::from(error),
    }
}

/// `rpcctl ping`.
pub(crate) async fn ping(
    transport: &Transport,
    out: Output,
    topic: &str,
    window: Duration,
) -> Result<(), Failure> {
    let answers = gather_pings(transport, topic, window).await?;
    if answers.is_empty() {
        return Err(Failure::NoAnswer(format!(
            "no server of `{topic}` answered within {window:?}"
        )));
    }
    out.pings(&answers);
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
    let to = Target {
        topic,
        server: None,
        fanout: true,
    };
    let replies = transport
        .gather(to.destination(), message, window)
        .await
        .map_err(|e| to.failed(e))?;
    let mut answers = Vec::new();
    for (latency, reply) in replies {
        let value = read_reply(transport, reply)?;
        let ping: PingReply = serde_json::from_value(value)
            .map_err(|e| Failure::Answered(format!("undecodable ping reply: {e}"), None))?;
        answers.push((latency, ping));
    }
    answers.sort_by(|a, b| a.1.server.cmp(&b.1.server));
    Ok(answers)
}

/// What the servers of `to` describe.
pub(crate) async fn fetch_description(
    transport: &Transport,
    to: Target<'_>,
    timeout: Duration,
) -> Result<ServiceDescription, Failure> {
    fetch_description_or(transport, to, timeout, |e| to.failed(e)).await
}

/// What the servers of `to` describe; `failed` says why not, when the
/// question was not answered.
pub(crate) async fn fetch_description_or(
    transport: &Transport,
    to: Target<'_>,
    timeout: Duration,
    failed: impl FnOnce(RpcError) -> Failure,
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
        .call_raw(to.destination(), message, timeout)
        .await
        .map_err(failed)?;
    serde_json::from_value(read_reply(transport, reply)?)
        .map_err(|e| Failure::Answered(format!("undecodable description: {e}"), None))
}

/// `rpcctl describe`.
pub(crate) async fn describe(
    transport: &Transport,
    out: Output,
    topic: &str,
    server: Option<&str>,
    timeout: Duration,
) -> Result<(), Failure> {
    let to = Target {
        topic,
        server,
        fanout: false,
    };
    let description = fetch_description(transport, to, timeout).await?;
    out.description(&description);
    Ok(())
}

/// `args` as a JSON object.
pub(crate) fn parse_args(args: &str) -> Result<Map<String, Value>, Failure> {
    let value: Value = serde_json::from_str(args)
        .map_err(|e| Failure::Usage(format!("the arguments are not JSON: {e}")))?;
    let Value::Object(given) = value else {
        return Err(Failure::Usage(
            "the arguments must be a JSON object of named arguments".into(),
        ));
    };
    Ok(given)
}

/// Checks `args` (a JSON object) against the method's arguments and
/// returns the body to send: every argument in the method's order, an
/// `Option` left out as `null` (which the server reads as `None`).
pub(crate) fn check_args(method: &MethodDescription, args: &str) -> Result<Vec<u8>, Failure> {
    let given = parse_args(args)?;
    let names: Vec<&str> = method.args.iter().map(|(name, _)| name.as_str()).collect();
    let takes = if names.is_empty() {
        "no arguments".to_owned()
    } else {
        let each: Vec<String> = method
            .args
            .iter()
            .map(|(name, ty)| {
                if optional_type(ty) {
                    format!("{name} (optional)")
                } else {
                    name.clone()
                }
            })
            .collect();
        each.join(", ")
    };
    if let Some(unknown) = given.keys().find(|k| !names.contains(&k.as_str())) {
        return Err(Failure::Usage(format!(
            "unknown argument `{unknown}`: `{}` takes {takes}",
            method.name
        )));
    }
    if let Some((missing, _)) = method
        .args
        .iter()
        .find(|(name, ty)| !given.contains_key(name) && !optional_type(ty))
    {
        return Err(Failure::Usage(format!(
            "missing argument `{missing}`: `{}` takes {takes}",
            method.name
        )));
    }
    let ordered: Map<String, Value> = names
        .iter()
        .map(|n| {
            let value = given.get(*n).cloned().unwrap_or(Value::Null);
            ((*n).to_owned(), value)
        })
        .collect();
    serde_json::to_vec(&Value::Object(ordered)).map_err(|e| Failure::Usage(e.to_string()))
}

/// The method `name` of `service`, of the expected kind.
/// The method `name`, if it is one of `kinds` (`rpcctl call` takes calls
/// and streams, `rpcctl cast` casts).
pub(crate) fn find_method<'a>(
    service: &'a ServiceDescription,
    name: &str,
    kinds: &[&str],
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
    if !kinds.contains(&method.kind.as_str()) {
        let command = if method.kind == "cast" {
            "cast"
        } else {
            "call"
        };
        return Err(Failure::Usage(format!(
            "`{name}` is a {}; use `rpcctl {command}`",
            method.kind
        )));
    }
    Ok(method)
}

pub(crate) fn required_version(service: &ServiceDescription, method: &MethodDescription) -> String {
    method.since.clone().unwrap_or_else(|| {
        let major = service.version.split('.').next().unwrap_or("1");
        format!("{major}.0")
    })
}
