//! Joining an OpenStack deployment as it is, against the real
//! oslo.messaging (`tests/oslo/peer.py`): nova.conf's `transport_url`
//! unchanged on both sides, a server of the wrong wire named at once, and
//! oslo's semantics where a Python caller depends on them.

use std::sync::Arc;

use rpc_runtime::wire::Wire;
use rpc_runtime::{AmqpConfig, Context, Server};
use rpc_tests::oslo::{RustStorage, Storage, StorageClient, StorageService, serve_storage};
use rpc_tests::python::Python;
use rpc_tests::{Env, Kind};
use serde_json::{Value, json};

/// What a Python caller saw of one operation.
fn outcome(outcomes: &[Value], index: usize) -> &Value {
    &outcomes[index]
}

fn seconds(outcome: &Value) -> f64 {
    outcome["seconds"].as_f64().expect("seconds")
}

/// Two hosts, each with its own credentials, and vhost `/` from the empty
/// path: a `transport_url` as nova.conf has it.
fn nova_conf_url() -> String {
    "rabbit://guest:guest@127.0.0.1:5672,guest:guest@localhost:5672/".to_owned()
}

async fn server(env: &Env, url: &str, storage: &Arc<RustStorage>) -> Server {
    let transport = AmqpConfig::from_url(url)
        .expect("the URL")
        .control_exchange(&env.exchange)
        .connect()
        .await
        .expect("connect");
    env.track_server("rs-1");
    Server::builder(&transport, "rs-1")
        .serve_on(&env.topic, StorageService::from_arc(Arc::clone(storage)))
        .start()
        .await
        .expect("start the Rust server")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nova_conf_transport_url_works_unchanged_on_both_sides() {
    let Some(env) = Env::speaking(Kind::Amqp, Wire::Oslo).await else {
        return;
    };
    let Some(python) = Python::find() else {
        return;
    };
    let url = nova_conf_url();
    let storage = Arc::new(RustStorage::new("rs-1"));
    let _server = server(&env, &url, &storage).await;
    let outcomes = python
        .with_url(&url)
        .client(
            &env.exchange,
            &env.topic,
            &json!([{"kind": "call", "method": "add", "args": {"a": 2, "b": 40}}]),
        )
        .await;
    assert_eq!(outcome(&outcomes, 0)["ok"], json!(42), "{outcomes:?}");
    // And a Rust client with the same string.
    let transport = AmqpConfig::from_url(&url)
        .expect("the URL")
        .control_exchange(&env.exchange)
        .connect()
        .await
        .expect("connect");
    let client = StorageClient::new(&transport).topic(&env.topic);
    assert_eq!(client.add(&Context::new(), 1, 1).await, Ok(2));
    transport.close().await;
    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_python_caller_of_a_native_server_is_told_the_setting_at_once() {
    let Some(env) = Env::speaking(Kind::Amqp, Wire::Native).await else {
        return;
    };
    let Some(python) = Python::find() else {
        return;
    };
    let _server = serve_storage(&env, "rs-1", Arc::new(RustStorage::new("rs-1"))).await;
    let outcomes = python
        .client(
            &env.exchange,
            &env.topic,
            &json!([{"kind": "call", "method": "add", "args": {"a": 1, "b": 2}}]),
        )
        .await;
    let refused = outcome(&outcomes, 0);
    let value = refused["error"]["value"].as_str().unwrap_or_default();
    assert!(value.contains("the receiver's `wire=oslo`"), "{refused}");
    assert!(seconds(refused) < 1.0, "{refused}");
    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_callers_get_oslo_semantics() {
    let Some(env) = Env::speaking(Kind::Amqp, Wire::Oslo).await else {
        return;
    };
    let Some(python) = Python::find() else {
        return;
    };
    let storage = Arc::new(RustStorage::new("rs-1"));
    let _server = serve_storage(&env, "rs-1", Arc::clone(&storage)).await;
    let outcomes = python
        .client(
            &env.exchange,
            &env.topic,
            &json!([
                // `record` is a cast in the Rust trait: called, it answers None.
                {"kind": "call", "method": "record", "args": {"note": "called"}},
                {"kind": "call", "method": "add", "args": {"a": 1, "c": 2}},
                {"kind": "call", "method": "add", "args": {"a": 1}},
            ]),
        )
        .await;
    assert_eq!(outcome(&outcomes, 0)["ok"], Value::Null, "{outcomes:?}");
    assert_eq!(storage.notes(&Context::new()).await, ["called"]);
    for (index, words) in [
        (1, "add() got an unexpected keyword argument 'c'"),
        (2, "add() missing 1 required positional argument: 'b'"),
    ] {
        // Raised in Python as the builtin TypeError itself.
        let error = &outcome(&outcomes, index)["error"];
        assert_eq!(error["class"], json!("TypeError"), "{error}");
        assert!(
            error["value"].as_str().unwrap_or_default().contains(words),
            "{error}"
        );
    }
    env.cleanup().await;
}
