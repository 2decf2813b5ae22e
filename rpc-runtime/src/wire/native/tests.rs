//! The native wire format's unit tests.

use super::*;
use crate::context::Context;
use crate::secret::Secret;

#[test]
fn request_round_trips_with_context() {
    let wire = NativeWire::default();
    let ctx = Context::new()
        .with_user_id("u1")
        .with_project_id("p1")
        .with_roles(["admin", "member"])
        .with_auth_token("tok")
        .with_value("zone", "az1")
        .with_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
    let message = wire.encode_request(OutgoingRequest {
        trace: None,
        method: "create_volume".into(),
        version: "3.1",
        namespace: Some("base"),
        context: &ctx,
        options: &CallOptions::new()
            .timeout(Duration::from_secs(30))
            .call_monitor(Duration::from_secs(2)),
        body: vec![1, 2, 3],
    });
    assert_eq!(message.kind.as_deref(), Some("create_volume"));
    assert!(message.headers.is_empty(), "no header table on a request");
    assert_eq!(message.body[0], 2, "the preamble's version");
    let mut request = wire.decode_request(message).unwrap();
    assert_eq!(request.options.call_monitor, Some(Duration::from_secs(2)));
    assert_eq!(request.options.timeout, Some(Duration::from_secs(30)));
    // The server starts the deadline from the timeout when it takes the
    // message.
    request.start_deadline(Some(std::time::Instant::now()));
    assert_eq!(request.method, "create_volume");
    assert_eq!(request.version.as_deref(), Some("3.1"));
    assert_eq!(request.namespace.as_deref(), Some("base"));
    assert_eq!(request.body, vec![1, 2, 3]);
    let got = request.context;
    assert_eq!(got.request_id(), ctx.request_id());
    assert_eq!(got.user_id(), Some("u1"));
    assert_eq!(got.project_id(), Some("p1"));
    assert_eq!(got.roles(), ["admin", "member"]);
    assert_eq!(got.auth_token().map(Secret::expose), Some("tok"));
    assert_eq!(got.value("zone"), Some("az1"));
    let left = got.remaining().expect("a deadline");
    assert!(
        left > Duration::from_secs(29) && left <= Duration::from_secs(30),
        "{left:?}"
    );
    let (sent, got) = (ctx.trace().unwrap(), got.trace().unwrap());
    assert_eq!(got.trace_id(), sent.trace_id(), "the trace goes on");
    assert_ne!(got.parent_id(), sent.parent_id(), "one span per request");
}

#[test]
fn bad_requests_and_replies_are_errors() {
    let wire = NativeWire::default();
    let err = wire.decode_request(Message::default()).unwrap_err();
    assert!(matches!(err, RpcError::BadRequest { .. }), "{err:?}");

    for body in [vec![], vec![1, 0], vec![2, 0xff, 0xff, 0xff, 0xff, 0x0f]] {
        let message = Message {
            kind: Some("m".into()),
            body,
            ..Message::default()
        };
        let err = wire.decode_request(message).unwrap_err();
        assert!(
            matches!(err, RpcError::BadRequest { ref method, ref detail } if method == "m" && detail.contains("preamble")),
            "{err:?}"
        );
    }

    let reply = Message {
        kind: Some("failure".into()),
        body: vec![0xff; 3],
        ..Message::default()
    };
    assert!(matches!(
        wire.decode_reply(reply),
        Err(RpcError::Decode { .. })
    ));
}

/// A request or reply of the first native format (`x-rpc-*` headers) gets an
/// error naming the format.
#[test]
fn the_first_format_is_named_when_refused() {
    let wire = NativeWire::default();
    let mut request = Message::default();
    request.headers.insert(V1_METHOD, "create_volume");
    let err = wire.decode_request(request).unwrap_err();
    assert!(
        matches!(&err, RpcError::BadRequest { method, detail } if method == "create_volume" && detail.contains("first native wire format")),
        "{err}"
    );
    let mut reply = Message::default();
    reply.headers.insert(V1_STATUS, "ok");
    let err = wire.decode_reply(reply).unwrap_err();
    assert!(
        err.to_string().contains("first native wire format"),
        "{err}"
    );
}

#[test]
fn failures_round_trip() {
    let wire = NativeWire::default();
    let failure = ReplyBody::Failure(RpcError::UnknownMethod {
        topic: "volume".into(),
        method: "nope".into(),
    });
    let message = wire.encode_reply(failure.clone(), &AnyCodec::default());
    assert_eq!(wire.decode_reply(message).unwrap(), failure);
}

#[test]
fn an_error_reply_carries_its_message_and_type_and_only_it_has_headers() {
    let wire = NativeWire::default();
    let error = ErrorReply {
        body: vec![1, 2, 3],
        message: "é".repeat(600),
        type_name: "cinder::VolumeError".into(),
        causes: Vec::new(),
    };
    let message = wire.encode_reply(ReplyBody::Error(error), &AnyCodec::default());
    let Ok(ReplyBody::Error(back)) = wire.decode_reply(message) else {
        panic!("an error reply");
    };
    assert_eq!(back.body, [1, 2, 3]);
    assert_eq!(back.type_name, "cinder::VolumeError");
    assert_eq!(
        back.message,
        "é".repeat(512),
        "cut at 1 KiB, on a char boundary"
    );
    let ok = wire.encode_reply(ReplyBody::Value(vec![1]), &AnyCodec::default());
    assert!(ok.headers.is_empty(), "a value reply has no header table");
}

#[test]
fn an_undecodable_notification_says_so() {
    let err = NativeWire::default()
        .decode_notification(Message::default())
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.starts_with("could not decode a notification: "),
        "{text}"
    );
}
