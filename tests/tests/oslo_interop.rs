//! Wire interop with the real oslo.messaging (Python, rabbit driver) on
//! RabbitMQ: Python clients call Rust servers, Rust clients call Python
//! servers, and both kinds of server share a topic. The Python side is
//! `tests/oslo/peer.py`, serving and calling the same `Storage` methods.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use rpc_runtime::wire::Wire;
use rpc_runtime::{Context, RpcError};
use rpc_tests::oslo::{
    Relay, RustStorage, Storage, StorageClient, StorageError, StorageService, serve_storage,
};
use rpc_tests::python::Python;
use rpc_tests::{Env, Kind};
use serde_json::{Value, json};
use tokio::time::Instant;

const WAIT: Duration = Duration::from_secs(10);

/// The environment and the Python interpreter, or `None` to skip.
async fn setup() -> Option<(Env, Python)> {
    let env = Env::speaking(Kind::Amqp, Wire::Oslo).await?;
    let python = Python::find()?;
    Some((env, python))
}

fn client(env: &Env, transport: &rpc_runtime::Transport) -> StorageClient {
    StorageClient::new(transport)
        .topic(&env.topic)
        .timeout(WAIT)
}

/// Asks `notes` until it holds `note`, for up to [`WAIT`].
async fn wait_for_note(client: &StorageClient, note: &str) {
    let deadline = Instant::now() + WAIT;
    loop {
        let notes = client.notes(&Context::new()).await.expect("notes");
        if notes.iter().any(|n| n == note) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "`{note}` never arrived: {notes:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn ok(outcome: &Value) -> &Value {
    outcome
        .get("ok")
        .unwrap_or_else(|| panic!("expected success, got {outcome}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_python_client_calls_casts_and_fans_out_to_rust_servers() {
    let Some((env, python)) = setup().await else {
        return;
    };
    let first = Arc::new(RustStorage::new("rs-1"));
    let second = Arc::new(RustStorage::new("rs-2"));
    let _s1 = serve_storage(&env, "rs-1", Arc::clone(&first)).await;
    let _s2 = serve_storage(&env, "rs-2", Arc::clone(&second)).await;
    let outcomes = python
        .client(
            &env.exchange,
            &env.topic,
            &json!([
                {"kind": "call", "method": "add", "args": {"a": 2, "b": 3}},
                {"kind": "call", "method": "whoami", "prepare": {"server": "rs-2"}},
                {"kind": "cast", "method": "record", "args": {"note": "to-rs-1"},
                 "prepare": {"server": "rs-1"}},
                {"kind": "cast", "method": "record", "args": {"note": "to-all"},
                 "prepare": {"fanout": true}},
            ]),
        )
        .await;
    assert_eq!(ok(&outcomes[0]), &json!(5));
    assert_eq!(ok(&outcomes[1]), &json!("rs-2"));
    let transport = env.transport().await;
    let client = client(&env, &transport);
    wait_for_note(&client.to_server("rs-1"), "to-rs-1").await;
    wait_for_note(&client.to_server("rs-1"), "to-all").await;
    wait_for_note(&client.to_server("rs-2"), "to-all").await;
    let second_notes = second.notes(&Context::new()).await;
    assert_eq!(second_notes, ["to-all"], "rs-2 got only the fanout");
    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rust_client_calls_and_casts_to_a_python_server() {
    let Some((env, python)) = setup().await else {
        return;
    };
    env.track_server("py-1");
    let _python = python.server(&env.exchange, &env.topic, "py-1").await;
    let transport = env.transport().await;
    let client = client(&env, &transport);
    let ctx = Context::new();
    assert_eq!(client.add(&ctx, 2, 40).await, Ok(42));
    assert_eq!(
        client.to_server("py-1").whoami(&ctx).await.as_deref(),
        Ok("py-1")
    );
    client
        .to_server("py-1")
        .record(&ctx, "direct".into())
        .await
        .expect("cast");
    client
        .fanout()
        .record(&ctx, "fanout".into())
        .await
        .expect("fanout cast");
    wait_for_note(&client, "direct").await;
    wait_for_note(&client, "fanout").await;
    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_and_rust_servers_share_a_topic() {
    let Some((env, python)) = setup().await else {
        return;
    };
    env.track_server("py-1");
    let _python = python.server(&env.exchange, &env.topic, "py-1").await;
    let _rust = serve_storage(&env, "rs-1", Arc::new(RustStorage::new("rs-1"))).await;
    let transport = env.transport().await;
    let client = client(&env, &transport);
    let mut from_rust = BTreeSet::new();
    for _ in 0..40 {
        from_rust.insert(client.whoami(&Context::new()).await.expect("whoami"));
    }
    let calls: Vec<Value> = (0..20)
        .map(|_| json!({"kind": "call", "method": "whoami"}))
        .collect();
    let outcomes = python
        .client(&env.exchange, &env.topic, &Value::Array(calls))
        .await;
    let from_python: BTreeSet<String> = outcomes
        .iter()
        .map(|o| ok(o).as_str().expect("a name").to_owned())
        .collect();
    let both = BTreeSet::from(["py-1".to_owned(), "rs-1".to_owned()]);
    assert_eq!(from_rust, both, "a Rust client reached both servers");
    assert_eq!(from_python, both, "a Python client reached both servers");
    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_errors_arrive_as_the_callers_error_types() {
    let Some((env, python)) = setup().await else {
        return;
    };
    // Rust server, Python caller: RemoteError with the variant as class.
    let _rust = serve_storage(&env, "rs-1", Arc::new(RustStorage::new("rs-1"))).await;
    let outcomes = python
        .client(
            &env.exchange,
            &env.topic,
            &json!([
                {"kind": "call", "method": "fail", "args": {"kind": "not_found"}},
                {"kind": "call", "method": "fail", "args": {"kind": "weird"}},
                {"kind": "call", "method": "no_such_method"},
                {"kind": "call", "method": "whoami", "prepare": {"version": "2.0"}},
                {"kind": "call", "method": "whoami", "prepare": {"namespace": "other"}},
                {"kind": "call", "method": "whoami", "prepare": {"version": "1.3"}},
                {"kind": "call", "method": "fail", "args": {"kind": "backend"}},
            ]),
        )
        .await;
    let remote = |outcome: &Value| {
        let error = &outcome["error"];
        assert_eq!(error["class"], "RemoteError", "{outcome}");
        (error["exc_type"].clone(), error["value"].clone())
    };
    assert_eq!(
        remote(&outcomes[0]),
        (
            json!("VolumeNotFound"),
            json!("Volume 7 could not be found.")
        )
    );
    assert_eq!(
        remote(&outcomes[1]),
        (json!("Invalid"), json!("invalid kind: weird"))
    );
    assert_eq!(remote(&outcomes[2]).0, json!("NoSuchMethod"));
    assert_eq!(remote(&outcomes[3]).0, json!("UnsupportedVersion"));
    assert_eq!(remote(&outcomes[4]).0, json!("UnsupportedVersion"));
    assert_eq!(ok(&outcomes[5]), &json!("rs-1"), "1.3 is served");
    // The traceback Python shows: the error, then its causes.
    assert_eq!(
        remote(&outcomes[6]),
        (json!("Backend"), json!("the backend failed"))
    );
    let lines: Vec<&str> = outcomes[6]["error"]["traceback"]
        .as_array()
        .map(|lines| {
            lines
                .iter()
                .filter_map(Value::as_str)
                .map(str::trim_end)
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(
        lines,
        [
            "rpc_tests.oslo.StorageError.Backend: the backend failed",
            "Caused by: lvcreate exited with 5"
        ],
        "{}",
        outcomes[6]
    );

    // Python server, Rust caller: the typed variant when the error type has
    // one of that name, else a remote error with class, module and message.
    let topic = env.extra_topic("py");
    env.track_server("py-1");
    let _python = python.server(&env.exchange, &topic, "py-1").await;
    let transport = env.transport().await;
    let client = StorageClient::new(&transport).topic(&topic).timeout(WAIT);
    let ctx = Context::new();
    assert_eq!(
        client.fail(&ctx, "not_found".into()).await,
        Err(StorageError::VolumeNotFound { volume_id: 7 })
    );
    match client.fail(&ctx, "weird".into()).await {
        Err(StorageError::Rpc(RpcError::Remote {
            class,
            module,
            message,
            ..
        })) => {
            assert_eq!(
                (class.as_str(), module.as_str(), message.as_str()),
                ("ValueError", "builtins", "invalid kind: weird")
            );
        }
        other => panic!("expected a remote ValueError, got {other:?}"),
    }
    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_calls_live_on_call_monitor_heartbeats_both_ways() {
    let Some((env, python)) = setup().await else {
        return;
    };
    // A Python caller giving up after 1 s of silence waits 3 s for a Rust server.
    let _rust = serve_storage(&env, "rs-1", Arc::new(RustStorage::new("rs-1"))).await;
    let outcomes = python
        .client(
            &env.exchange,
            &env.topic,
            &json!([{
                "kind": "call", "method": "slow", "args": {"seconds": 3},
                "prepare": {"timeout": 30, "call_monitor_timeout": 1},
            }]),
        )
        .await;
    assert_eq!(ok(&outcomes[0]), &json!(3.0));
    // And a Rust caller with a 2 s call monitor (oslo's servers heartbeat
    // only for whole seconds, at least 2) waits 5 s for a Python server.
    let topic = env.extra_topic("py");
    env.track_server("py-1");
    let _python = python.server(&env.exchange, &topic, "py-1").await;
    let transport = env.transport().await;
    let client = StorageClient::new(&transport)
        .topic(&topic)
        .timeout(Duration::from_secs(30))
        .call_monitor(Duration::from_secs(2));
    assert_eq!(client.slow(&Context::new(), 5.0).await, Ok(5.0));
    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn context_keys_survive_python_to_rust_to_python() {
    let Some((env, python)) = setup().await else {
        return;
    };
    let onward = env.extra_topic("py");
    env.track_server("py-1");
    let _python = python.server(&env.exchange, &onward, "py-1").await;
    let transport = env.transport().await;
    let _relay = env
        .builder("relay")
        .await
        .serve_on(
            &env.topic,
            StorageService::new(Relay::new(&transport, &onward)),
        )
        .start()
        .await
        .expect("start the relay");
    let context = json!({
        "request_id": "req-7a1", "user_id": "alice", "project_id": "p-1",
        "roles": ["admin", "member"], "is_admin": true, "custom": "kept",
        "nested": {"zone": "az1"}, "global_request_id": null,
    });
    let outcomes = python
        .client(
            &env.exchange,
            &env.topic,
            &json!([{"kind": "call", "method": "echo_context", "context": context}]),
        )
        .await;
    let seen = ok(&outcomes[0]);
    for key in [
        "request_id",
        "user_id",
        "project_id",
        "roles",
        "is_admin",
        "custom",
        "nested",
        "global_request_id",
    ] {
        assert_eq!(seen[key], context[key], "`{key}` after two hops: {seen}");
    }
    // And a Rust caller's context, as a Python server sees it.
    let client = StorageClient::new(&transport).topic(&onward).timeout(WAIT);
    let ctx = Context::new()
        .with_request_id("req-rust")
        .with_user_id("bob")
        .with_value("custom", "from-rust");
    let seen = client.echo_context(&ctx).await.expect("echo");
    assert_eq!(
        (&seen["request_id"], &seen["user_id"], &seen["custom"]),
        (&json!("req-rust"), &json!("bob"), &json!("from-rust"))
    );
    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_delivered_twice_runs_once() {
    let Some(env) = Env::speaking(Kind::Amqp, Wire::Oslo).await else {
        return;
    };
    let storage = Arc::new(RustStorage::new("rs-1"));
    // One request at a time: handled in the order sent.
    let _rust = env
        .builder("rs-1")
        .await
        .concurrency(1)
        .serve_on(&env.topic, StorageService::from_arc(Arc::clone(&storage)))
        .start()
        .await
        .expect("start the Rust server");
    // The same message twice, as a broker redelivers one whose ack was
    // lost, then another one.
    let cast = |note: &str, unique: &str| {
        let inner = json!({"method": "record", "args": {"note": note}, "_unique_id": unique});
        json!({"oslo.version": "2.0", "oslo.message": inner.to_string()}).to_string()
    };
    let connection = rpc_tests::env::raw_connection().await.expect("connect");
    let channel = connection.open_channel(None).await.expect("channel");
    let publish = amqprs::channel::BasicPublishArguments::new(&env.exchange, &env.topic);
    for body in [
        cast("once", "u-1"),
        cast("once", "u-1"),
        cast("after", "u-2"),
    ] {
        channel
            .basic_publish(
                amqprs::BasicProperties::default(),
                body.into_bytes(),
                publish.clone(),
            )
            .await
            .expect("publish");
    }
    let transport = env.transport().await;
    wait_for_note(&client(&env, &transport), "after").await;
    assert_eq!(storage.notes(&Context::new()).await, ["once", "after"]);
    let _ = connection.close().await;
    env.cleanup().await;
}
