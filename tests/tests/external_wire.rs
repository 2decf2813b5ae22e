//! A third wire format, written in this one file against the public
//! `WireFormat` trait alone, under the conformance suite on the in-memory
//! broker and on RabbitMQ: every request, reply and notification is one
//! JSON envelope (`application/vnd.rpc-envelope+json`), its facts and the
//! context as fields, the arguments or value as raw JSON.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rpc_runtime::codec::{AnyCodec, DEFAULT_MAX_MESSAGE_SIZE, Json};
use rpc_runtime::message::Message;
use rpc_runtime::notify::Priority;
use rpc_runtime::wire::{
    ErrorReply, IncomingNotification, IncomingRequest, OutgoingNotification, OutgoingRequest,
    ReplyBody, WireFormat,
};
use rpc_runtime::{CallOptions, Context, RpcError};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

mod memory {
    rpc_tests::conformance_suite!(
        rpc_tests::Kind::Memory,
        rpc_tests::Speaks::Own(super::envelope)
    );
}

mod amqp {
    rpc_tests::conformance_suite!(
        rpc_tests::Kind::Amqp,
        rpc_tests::Speaks::Own(super::envelope)
    );
}

fn envelope() -> Arc<dyn WireFormat> {
    Arc::new(Envelope::with_max_size(DEFAULT_MAX_MESSAGE_SIZE))
}

const CONTENT_TYPE: &str = "application/vnd.rpc-envelope+json";

/// The format: JSON envelopes, JSON arguments.
#[derive(Debug, Clone)]
struct Envelope {
    codec: AnyCodec,
}

impl Envelope {
    fn with_max_size(bytes: usize) -> Self {
        Self {
            codec: AnyCodec::Json(Json::with_max_size(bytes)),
        }
    }

    fn message(&self, body: &Body) -> Message {
        Message {
            content_type: Some(CONTENT_TYPE.into()),
            body: serde_json::to_vec(body).unwrap_or_default(),
            ..Message::default()
        }
    }

    /// The envelope of a received message, its size bounded first.
    fn open(&self, message: &Message) -> Result<Body, String> {
        let limit = self.codec.max_size();
        if message.body.len() > limit {
            return Err(format!(
                "its body of {} bytes exceeds the limit of {limit} bytes",
                message.body.len()
            ));
        }
        serde_json::from_slice(&message.body).map_err(|e| format!("not an envelope: {e}"))
    }
}

/// Every message's body: `{"request": {...}}`, `{"ok": {...}}`, ...
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Body {
    Request {
        method: String,
        version: String,
        namespace: Option<String>,
        timeout_ms: Option<u64>,
        monitor_ms: Option<u64>,
        context: Ctx,
        args: Args,
    },
    Ok {
        value: Box<RawValue>,
    },
    Error {
        value: Box<RawValue>,
        message: String,
        type_name: String,
        causes: Vec<String>,
    },
    Failure {
        error: RpcError,
    },
    Heartbeat,
    Notification {
        priority: String,
        event_type: String,
        publisher_id: String,
        message_id: String,
        timestamp_ms: u64,
        context: Ctx,
        payload: Box<RawValue>,
    },
}

/// Arguments: the codec's JSON, or (from a broken client) bytes in hex.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Args {
    Json(Box<RawValue>),
    Hex(String),
}

impl Args {
    fn of(body: Vec<u8>) -> Self {
        let hex = |bytes: &[u8]| Args::Hex(bytes.iter().map(|b| format!("{b:02x}")).collect());
        match String::from_utf8(body) {
            Ok(text) if serde_json::from_str::<&RawValue>(&text).is_ok() => {
                RawValue::from_string(text)
                    .map_or_else(|e| hex(e.to_string().as_bytes()), Args::Json)
            }
            Ok(text) => hex(text.as_bytes()),
            Err(e) => hex(e.as_bytes()),
        }
    }

    fn into_bytes(self) -> Vec<u8> {
        match self {
            Args::Json(raw) => raw.get().as_bytes().to_vec(),
            Args::Hex(hex) => (0..hex.len() / 2)
                .filter_map(|i| u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok())
                .collect(),
        }
    }
}

fn raw(bytes: Vec<u8>) -> Box<RawValue> {
    String::from_utf8(bytes)
        .ok()
        .and_then(|text| RawValue::from_string(text).ok())
        .unwrap_or_else(|| RawValue::from_string("null".into()).expect("null"))
}

/// The context, field by field.
#[derive(Serialize, Deserialize)]
struct Ctx {
    request_id: String,
    user_id: Option<String>,
    project_id: Option<String>,
    roles: Vec<String>,
    auth_token: Option<String>,
    values: Vec<(String, String)>,
    raw_values: Vec<(String, String)>,
    traceparent: Option<String>,
}

impl Ctx {
    fn of(context: &Context, trace: Option<String>) -> Self {
        Self {
            request_id: context.request_id().to_owned(),
            user_id: context.user_id().map(str::to_owned),
            project_id: context.project_id().map(str::to_owned),
            roles: context.roles().to_vec(),
            auth_token: context.auth_token().map(|t| t.expose().to_owned()),
            values: context.values().clone().into_iter().collect(),
            raw_values: context.raw_values().clone().into_iter().collect(),
            traceparent: trace.or_else(|| context.trace().map(|t| t.child().to_string())),
        }
    }

    fn into_context(self) -> Context {
        let mut context = Context::new()
            .with_request_id(self.request_id)
            .with_roles(self.roles);
        if let Some(user) = self.user_id {
            context = context.with_user_id(user);
        }
        if let Some(project) = self.project_id {
            context = context.with_project_id(project);
        }
        if let Some(token) = self.auth_token {
            context = context.with_auth_token(token);
        }
        if let Some(trace) = self.traceparent {
            context = context.with_traceparent(&trace);
        }
        for (key, value) in self.values {
            context = context.with_value(key, value);
        }
        for (key, json) in self.raw_values {
            context = context.with_raw_value(key, json);
        }
        context
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

impl WireFormat for Envelope {
    fn name(&self) -> &'static str {
        "envelope"
    }

    fn recognizes(&self, message: &Message) -> bool {
        message.content_type.as_deref() == Some(CONTENT_TYPE)
    }

    fn codec(&self) -> &AnyCodec {
        &self.codec
    }

    fn with_max_size(&self, bytes: usize) -> Arc<dyn WireFormat> {
        Arc::new(Envelope::with_max_size(bytes))
    }

    fn encode_request(&self, request: OutgoingRequest<'_>) -> Message {
        self.message(&Body::Request {
            method: request.method.into_owned(),
            version: request.version.to_owned(),
            namespace: request.namespace.map(str::to_owned),
            timeout_ms: request.options.timeout.map(millis),
            monitor_ms: request.options.call_monitor.map(millis),
            context: Ctx::of(request.context, request.trace.map(|t| t.to_string())),
            args: Args::of(request.body),
        })
    }

    fn decode_request(&self, message: Message) -> Result<IncomingRequest, RpcError> {
        let bad = |detail: String| RpcError::BadRequest {
            method: "?".into(),
            detail,
        };
        let Body::Request {
            method,
            version,
            namespace,
            timeout_ms,
            monitor_ms,
            context,
            args,
        } = self.open(&message).map_err(bad)?
        else {
            return Err(bad("not a request".into()));
        };
        let mut options = CallOptions::new();
        options.timeout = timeout_ms.map(Duration::from_millis);
        options.call_monitor = monitor_ms.map(Duration::from_millis);
        Ok(IncomingRequest {
            method,
            version: Some(version),
            namespace,
            context: context.into_context(),
            options,
            body: args.into_bytes(),
            codec: self.codec,
        })
    }

    fn encode_reply(&self, reply: ReplyBody, _codec: &AnyCodec) -> Message {
        self.message(&match reply {
            ReplyBody::Value(value) => Body::Ok { value: raw(value) },
            ReplyBody::Error(error) => Body::Error {
                value: raw(error.body),
                message: error.message,
                type_name: error.type_name,
                causes: error.causes,
            },
            ReplyBody::Failure(error) => Body::Failure { error },
        })
    }

    fn decode_reply(&self, message: Message) -> Result<ReplyBody, RpcError> {
        let bad = |detail: String| RpcError::Decode {
            what: "the reply".into(),
            detail,
        };
        match self.open(&message).map_err(bad)? {
            Body::Ok { value } => Ok(ReplyBody::Value(value.get().as_bytes().to_vec())),
            Body::Error {
                value,
                message,
                type_name,
                causes,
            } => Ok(ReplyBody::Error(ErrorReply {
                body: value.get().as_bytes().to_vec(),
                message,
                type_name,
                causes,
            })),
            Body::Failure { error } => Ok(ReplyBody::Failure(error)),
            _ => Err(bad("not a reply".into())),
        }
    }

    fn encode_heartbeat(&self) -> Message {
        self.message(&Body::Heartbeat)
    }

    fn is_heartbeat(&self, reply: &Message) -> bool {
        matches!(self.open(reply), Ok(Body::Heartbeat))
    }

    fn encode_notification(&self, notification: OutgoingNotification<'_>) -> Message {
        let timestamp = notification
            .timestamp
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let mut message = self.message(&Body::Notification {
            priority: notification.priority.name().to_owned(),
            event_type: notification.event_type.to_owned(),
            publisher_id: notification.publisher_id.to_owned(),
            message_id: notification.message_id.to_owned(),
            timestamp_ms: millis(timestamp),
            context: Ctx::of(notification.context, None),
            payload: raw(notification.payload),
        });
        message.persistent = true;
        message
    }

    fn decode_notification(&self, message: Message) -> Result<IncomingNotification, RpcError> {
        let bad = |detail: String| RpcError::Decode {
            what: "a notification".into(),
            detail,
        };
        let Body::Notification {
            priority,
            event_type,
            publisher_id,
            message_id,
            timestamp_ms,
            context,
            payload,
        } = self.open(&message).map_err(bad)?
        else {
            return Err(bad("not a notification".into()));
        };
        Ok(IncomingNotification {
            priority: Priority::from_name(&priority)
                .ok_or_else(|| bad(format!("`{priority}` is no priority")))?,
            event_type,
            publisher_id,
            message_id,
            timestamp: SystemTime::UNIX_EPOCH + Duration::from_millis(timestamp_ms),
            context: context.into_context(),
            payload: payload.get().as_bytes().to_vec(),
            codec: self.codec,
        })
    }
}

/// A request in the native format reaching a server of this format is
/// answered, in the native format, with an error naming both.
#[tokio::test]
async fn a_native_request_is_told_the_server_speaks_another_format() {
    use rpc_runtime::wire::Wire;
    let broker = rpc_runtime::transport::MemoryBroker::new();
    let server_transport = broker.connect_with_format("openstack", envelope());
    let log = Arc::new(rpc_tests::volume::Log::default());
    let _server = rpc_runtime::Server::builder(&server_transport, "host-1")
        .serve(rpc_tests::volume::VolumeManagerService::new(
            rpc_tests::volume::Recorder::new("host-1", &log),
        ))
        .start()
        .await
        .expect("serve");
    let native = broker.connect_with_wire("openstack", Wire::Native);
    let client = rpc_tests::volume::VolumeManagerClient::new(&native);
    match client.whoami(&Context::new()).await {
        Err(RpcError::WrongWire {
            received, served, ..
        }) => assert_eq!((received.as_str(), served.as_str()), ("native", "envelope")),
        other => panic!("expected WrongWire, got {other:?}"),
    }
}
