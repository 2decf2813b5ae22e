//! Conformance case: requests a server cannot read get a clear error back
//! (when someone waits) and never stop the server. The garbage is shaped
//! for each wire format, as a broken client of that format would send it.

use std::sync::Arc;
use std::time::Duration;

use rpc_runtime::codec::DEFAULT_MAX_MESSAGE_SIZE;
use rpc_runtime::message::Message;
use rpc_runtime::wire::{OutgoingRequest, ReplyBody, Wire};
use rpc_runtime::{Context, Destination, RpcError};

use crate::env::Env;
use crate::volume::Log;

/// One kind of broken request.
#[derive(Debug, Clone, Copy)]
enum Broken {
    /// Names no method.
    NoMethod,
    /// Arguments that do not decode.
    BadArgs,
    /// A method the service does not have.
    UnknownMethod,
    /// A body over the receiver's limit.
    TooLarge,
}

/// The broken request in the format `env` speaks.
fn broken(env: &Env, what: Broken) -> Message {
    const HUGE: usize = DEFAULT_MAX_MESSAGE_SIZE + 1024 * 1024;
    match env.wire {
        Some(Wire::Native) | None => {
            // A well-formed head, then whatever body.
            let format = env.speaks.format().with_max_size(HUGE * 2);
            let with_method = |method: &str, body: Vec<u8>| {
                format.encode_request(OutgoingRequest {
                    trace: None,
                    method: method.to_owned().into(),
                    version: "1.0",
                    namespace: None,
                    context: &Context::new(),
                    options: &rpc_runtime::CallOptions::default(),
                    body,
                })
            };
            match what {
                Broken::NoMethod => Message::default(),
                Broken::BadArgs => with_method("create_volume", vec![0xff; 10]),
                Broken::UnknownMethod => with_method("nope", vec![]),
                Broken::TooLarge => with_method("get_volume", vec![0; HUGE]),
            }
        }
        Some(Wire::Oslo) => {
            let body = match what {
                Broken::NoMethod => serde_json::json!({"args": {}}),
                Broken::BadArgs => serde_json::json!({"method": "create_volume", "args": "xx"}),
                Broken::UnknownMethod => serde_json::json!({"method": "nope", "args": {}}),
                Broken::TooLarge => serde_json::json!({
                    "method": "get_volume", "args": {"id": 1, "pad": "0".repeat(HUGE)},
                }),
            };
            Message {
                body: serde_json::to_vec(&body).expect("JSON"),
                ..Message::default()
            }
        }
    }
}

fn failure_of(env: &Env, reply: Result<Message, RpcError>) -> RpcError {
    let reply = reply.expect("an error reply, not a transport failure");
    match env.speaks.format().decode_reply(reply) {
        Ok(ReplyBody::Failure(error)) => error,
        other => panic!("expected a failure reply, got {other:?}"),
    }
}

pub async fn malformed_messages_do_not_stop_the_server(env: Arc<Env>) {
    let log = Arc::new(Log::default());
    let _server = env.server("host-1", &log).await;
    // A sender whose own limit would not stop an oversized body.
    let transport = env
        .transport()
        .await
        .with_max_message_size(64 * 1024 * 1024);
    let to_server = Destination::Server {
        topic: env.topic.clone(),
        server: "host-1".into(),
    };
    let all = [
        Broken::NoMethod,
        Broken::BadArgs,
        Broken::UnknownMethod,
        Broken::TooLarge,
    ];
    // One-way garbage: nobody waits, the server must just survive it.
    for what in all {
        transport
            .cast_raw(
                to_server.clone(),
                broken(&env, what),
                Duration::from_secs(10),
            )
            .await
            .expect("published");
    }
    if env.wire == Some(Wire::Native) {
        let junk = Message {
            body: vec![0xff; 64],
            ..Message::default()
        };
        transport
            .cast_raw(to_server.clone(), junk, Duration::from_secs(10))
            .await
            .expect("published");
    }
    // Garbage with a reply address: each gets a clear error back.
    let wait = Duration::from_secs(10);
    for what in all {
        let reply = transport
            .call_raw(to_server.clone(), broken(&env, what), wait)
            .await;
        let error = failure_of(&env, reply);
        let expected = match what {
            Broken::NoMethod => matches!(error, RpcError::BadRequest { .. }),
            Broken::BadArgs => {
                matches!(error, RpcError::BadRequest { ref method, .. } if method == "create_volume")
            }
            Broken::UnknownMethod => {
                matches!(error, RpcError::UnknownMethod { ref method, .. } if method == "nope")
            }
            Broken::TooLarge => {
                matches!(error, RpcError::BadRequest { ref detail, .. } if detail.contains("exceeds"))
            }
        };
        assert!(expected, "{what:?}: {error:?}");
    }
    if env.wire == Some(Wire::Native) {
        // A preamble cut short, and a request of the first native format.
        let mut cut = broken(&env, Broken::UnknownMethod);
        cut.kind = Some("whoami".into());
        cut.body.truncate(3);
        let mut first_format = Message::default();
        first_format.headers.insert("x-rpc-method", "whoami");
        for (request, says) in [
            (cut, "preamble"),
            (first_format, "first native wire format"),
        ] {
            let reply = transport.call_raw(to_server.clone(), request, wait).await;
            let error = failure_of(&env, reply);
            assert!(
                matches!(&error, RpcError::BadRequest { detail, .. } if detail.contains(says)),
                "{error:?}"
            );
        }
    }
    // And it still serves.
    let client = env.client(&transport);
    assert_eq!(
        client.whoami(&Context::new()).await.expect("call"),
        "host-1"
    );
}
