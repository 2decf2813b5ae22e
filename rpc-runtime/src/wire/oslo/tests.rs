use super::*;
use crate::context::Context;
use crate::options::CallOptions;
use crate::secret::Secret;
use crate::wire::ErrorReply;

/// What the other side reads: sealed, then unsealed.
fn over_the_wire(wire: &OsloWire, message: Message) -> Message {
    let mut sealed = wire.seal(message).unwrap();
    sealed.received_at = Some(std::time::Instant::now());
    wire.unseal(sealed).unwrap()
}

#[test]
fn a_call_round_trips() {
    let wire = OsloWire::default();
    let ctx = Context::new()
        .with_user_id("alice")
        .with_roles(["admin"])
        .with_auth_token("t0k")
        .with_value("zone", "az1")
        .with_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
    let mut message = wire.encode_request(OutgoingRequest {
        trace: None,
        method: "create_volume".into(),
        version: "3.1",
        namespace: Some("storage"),
        context: &ctx,
        options: &CallOptions::new()
            .timeout(Duration::from_secs(30))
            .call_monitor(Duration::from_secs(4)),
        body: br#"{"name":"db","size_gb":10}"#.to_vec(),
    });
    message.correlation_id = Some("c1".into());
    message.reply_to = Some("reply_x".into());
    message.expiration_ms = Some(30_000);
    let received = over_the_wire(&wire, message);
    assert_eq!(received.correlation_id.as_deref(), Some("c1"));
    assert_eq!(received.reply_to.as_deref(), Some("reply_x"));
    assert!(wire.unique_id(&received).is_some());
    let mut request = wire.decode_request(received).unwrap();
    assert_eq!(request.options.call_monitor, Some(Duration::from_secs(4)));
    // The AMQP expiration is the call's timeout; the server starts the
    // deadline from it when it takes the message.
    assert!(request.options.timeout > Some(Duration::from_secs(29)));
    request.start_deadline(Some(std::time::Instant::now()));
    assert_eq!(request.method, "create_volume");
    assert_eq!(request.version.as_deref(), Some("3.1"));
    assert_eq!(request.namespace.as_deref(), Some("storage"));
    let args: serde_json::Value = serde_json::from_slice(&request.body).unwrap();
    assert_eq!(args, serde_json::json!({"name": "db", "size_gb": 10}));
    let got = request.context;
    assert_eq!(got.request_id(), ctx.request_id());
    assert_eq!(got.user_id(), Some("alice"));
    assert_eq!(got.roles(), ["admin"]);
    assert_eq!(got.auth_token().map(Secret::expose), Some("t0k"));
    assert_eq!(got.value("zone"), Some("az1"));
    assert_eq!(
        got.trace().map(|t| t.trace_id()),
        ctx.trace().map(|t| t.trace_id())
    );
    let left = got.remaining().unwrap();
    assert!(left > Duration::from_secs(29), "{left:?}");
}

#[test]
fn a_python_request_is_read() {
    let wire = OsloWire::default();
    let inner = serde_json::json!({
        "method": "get_volume", "args": {"id": 3},
        "_context_request_id": "req-py", "_context_user_id": "bob",
        "_msg_id": "m1", "_reply_q": "reply_py", "_timeout": null,
        "_unique_id": "u1",
    });
    let body = serde_json::json!({"oslo.version": "2.0", "oslo.message": inner.to_string()});
    let message = Message {
        body: serde_json::to_vec(&body).unwrap(),
        ..Message::default()
    };
    let received = wire.unseal(message).unwrap();
    assert_eq!(received.reply_to.as_deref(), Some("reply_py"));
    assert_eq!(wire.unique_id(&received), Some("u1"));
    let request = wire.decode_request(received).unwrap();
    assert_eq!(request.options.call_monitor, None);
    assert_eq!(request.version.as_deref(), Some("1.0"), "oslo's default");
    assert_eq!(request.namespace, None);
    assert_eq!(request.body, br#"{"id":3}"#);
    assert_eq!(request.context.request_id(), "req-py");
    assert_eq!(request.context.user_id(), Some("bob"));
    assert_eq!(request.context.deadline(), None);
}

#[test]
fn replies_round_trip() {
    let wire = OsloWire::default();
    let codec = *wire.codec();
    let error = ErrorReply {
        body: br#""NoSpace""#.to_vec(),
        message: "no space left".into(),
        type_name: "app::VolumeError".into(),
        causes: Vec::new(),
    };
    for reply in [
        ReplyBody::Value(br#"{"id":1}"#.to_vec()),
        ReplyBody::Error(error),
        ReplyBody::Failure(RpcError::UnknownMethod {
            topic: "volume".into(),
            method: "nope".into(),
        }),
    ] {
        let mut message = wire.encode_reply(reply.clone(), &codec);
        message.correlation_id = Some("c1".into());
        let received = over_the_wire(&wire, message);
        assert_eq!(received.correlation_id.as_deref(), Some("c1"));
        assert!(!wire.is_heartbeat(&received));
        assert_eq!(wire.decode_reply(received).unwrap(), reply);
    }
    let mut beat = wire.encode_heartbeat();
    beat.correlation_id = Some("c1".into());
    assert!(wire.is_heartbeat(&over_the_wire(&wire, beat)));
}

#[test]
fn notifications_round_trip() {
    let wire = OsloWire::default();
    let ctx = Context::new();
    let at = std::time::UNIX_EPOCH + Duration::from_micros(1_790_000_000_123_456);
    let message = wire.encode_notification(OutgoingNotification {
        priority: Priority::Warn,
        event_type: "volume.create.end",
        publisher_id: "volume.host-1",
        message_id: "n1",
        timestamp: at,
        context: &ctx,
        payload: br#"{"id":1}"#.to_vec(),
    });
    let received = over_the_wire(&wire, message);
    let body: serde_json::Value = serde_json::from_slice(&received.body).unwrap();
    assert_eq!(body["timestamp"], "2026-09-21 14:13:20.123456");
    assert_eq!(body["priority"], "WARN");
    let got = wire.decode_notification(received).unwrap();
    assert_eq!(got.priority, Priority::Warn);
    assert_eq!(got.event_type, "volume.create.end");
    assert_eq!(got.publisher_id, "volume.host-1");
    assert_eq!(got.message_id, "n1");
    assert_eq!(got.timestamp, at);
    assert_eq!(got.payload, br#"{"id":1}"#);
    assert_eq!(got.context.request_id(), ctx.request_id());
}

#[test]
fn bad_requests_are_errors() {
    let wire = OsloWire::with_max_size(64);
    for body in [&b"{}"[..], b"{\"method\": 3}", b"[]"] {
        let message = Message {
            body: body.to_vec(),
            ..Message::default()
        };
        let err = wire.decode_request(message).unwrap_err();
        assert!(matches!(err, RpcError::BadRequest { .. }), "{err:?}");
    }
    let big = Message {
        body: vec![b' '; 129],
        ..Message::default()
    };
    assert!(wire.unseal(big).is_err());
}
