//! An `Option` argument may be left out of a request by a caller that names
//! its arguments: the server reads it as `None`. Requests as `rpcctl` builds
//! them (JSON, by name) on both wires through the in-memory broker, and a
//! real oslo.messaging caller (`tests/oslo/peer.py`) of a Rust server on
//! RabbitMQ leaving out the keyword argument, as Python would with
//! `species=None` as its default. An argument that is not an `Option` is
//! still required: Python's `TypeError` in Python's words.

use std::time::Duration;

use rpc_runtime::codec::{AnyCodec, Codec, Json};
use rpc_runtime::wire::{NativeWire, OsloWire, OutgoingRequest, ReplyBody, Wire, WireFormat};
use rpc_runtime::{Context, Destination, RpcError, Server, Transport, rpc_service};
use rpc_tests::python::Python;
use rpc_tests::{Env, Kind};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(10);

/// A kennel: `adopt` takes an optional species.
#[rpc_service(topic = "kennel", version = "1.0")]
pub trait Kennel {
    /// `"<name> <species as Debug>"`: what the server read.
    async fn adopt(&self, ctx: &Context, name: String, species: Option<String>) -> String;
}

struct Shelter;

impl Kennel for Shelter {
    async fn adopt(&self, _ctx: &Context, name: String, species: Option<String>) -> String {
        format!("{name} {species:?}")
    }
}

async fn serve(env: &Env) -> Server {
    env.builder("kennel-1")
        .await
        .serve_on(&env.topic, KennelService::new(Shelter))
        .start()
        .await
        .expect("start the kennel")
}

/// Calls `adopt` with `args` as the JSON object `rpcctl` sends on `wire`:
/// the value, or the framework's failure.
async fn adopt_raw(env: &Env, transport: &Transport, args: Value) -> Result<Value, RpcError> {
    let format: Box<dyn WireFormat> = match env.wire {
        Some(Wire::Oslo) => Box::new(OsloWire::default()),
        _ => Box::new(NativeWire::new(AnyCodec::Json(Json::default()))),
    };
    let context = Context::new();
    let message = format.encode_request(OutgoingRequest {
        method: "adopt".into(),
        version: "1.0",
        namespace: None,
        context: &context,
        trace: None,
        options: &rpc_runtime::CallOptions::new().timeout(WAIT),
        body: args.to_string().into_bytes(),
    });
    let topic = env.topic.clone();
    let reply = transport
        .call_raw(Destination::Topic { topic }, message, WAIT)
        .await?;
    match format.decode_reply(reply)? {
        ReplyBody::Value(body) => Ok(Json::default().decode(&body).expect("a JSON value")),
        ReplyBody::Failure(error) => Err(error),
        ReplyBody::Error(error) => panic!("adopt has no error type: {error:?}"),
    }
}

async fn left_out_on(wire: Wire) {
    let env = Env::speaking(Kind::Memory, wire).await.expect("memory");
    let _server = serve(&env).await;
    let transport = env.transport().await;
    for (args, read) in [
        (json!({"name": "rex"}), "rex None"),
        (json!({"name": "rex", "species": null}), "rex None"),
        (
            json!({"species": "dog", "name": "rex"}),
            r#"rex Some("dog")"#,
        ),
    ] {
        let got = adopt_raw(&env, &transport, args.clone()).await;
        assert_eq!(got, Ok(json!(read)), "{wire:?} {args}");
    }
    match adopt_raw(&env, &transport, json!({"species": "dog"})).await {
        Err(RpcError::Remote { class, message, .. }) => {
            assert_eq!(class, "TypeError");
            assert_eq!(
                message,
                "adopt() missing 1 required positional argument: 'name'"
            );
        }
        other => panic!("{wire:?}: expected a TypeError, got {other:?}"),
    }
    // The generated client sends the `None` (in place, on bincode).
    let client = KennelClient::new(&transport).topic(&env.topic);
    let got = client.adopt(&Context::new(), "rex".into(), None).await;
    assert_eq!(got.as_deref(), Ok("rex None"));
    env.cleanup().await;
}

#[tokio::test]
async fn an_option_left_out_reads_as_none_on_the_oslo_wire() {
    left_out_on(Wire::Oslo).await;
}

#[tokio::test]
async fn an_option_left_out_reads_as_none_on_the_native_wire() {
    left_out_on(Wire::Native).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_python_caller_may_leave_out_an_option() {
    let Some(env) = Env::speaking(Kind::Amqp, Wire::Oslo).await else {
        return;
    };
    let Some(python) = Python::find() else {
        return;
    };
    let _server = serve(&env).await;
    let outcomes = python
        .client(
            &env.exchange,
            &env.topic,
            &json!([
                {"kind": "call", "method": "adopt", "args": {"name": "rex"}},
                {"kind": "call", "method": "adopt", "args": {"name": "rex", "species": "dog"}},
                {"kind": "call", "method": "adopt", "args": {"species": "dog"}},
            ]),
        )
        .await;
    assert_eq!(outcomes[0]["ok"], json!("rex None"), "{outcomes:?}");
    assert_eq!(
        outcomes[1]["ok"],
        json!(r#"rex Some("dog")"#),
        "{outcomes:?}"
    );
    let error = &outcomes[2]["error"];
    assert_eq!(error["class"], json!("TypeError"), "{error}");
    let words = "adopt() missing 1 required positional argument: 'name'";
    assert!(
        error["value"].as_str().unwrap_or_default().contains(words),
        "{error}"
    );
    env.cleanup().await;
}
