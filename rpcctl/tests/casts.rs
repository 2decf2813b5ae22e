//! `rpcctl cast` checks a cast against a server's description when a
//! server consumes the queue (a misspelled method is refused before it is
//! sent) and says when it sent one unchecked; a call to a queue nobody
//! consumes is refused at once, naming the user's method.

use std::sync::Arc;

use rpc_tests::volume::Log;
use rpc_tests::{Env, Kind};
use support::{json, rpcctl, stderr};

mod support;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_misspelled_cast_is_refused_before_it_is_sent() {
    let Some(env) = Env::new(Kind::Amqp).await else {
        return;
    };
    let log = Arc::new(Log::default());
    let server = env.server("host-1", &log).await;
    let topic = env.topic.as_str();
    let typo = rpcctl(&env, &["cast", topic, "delete_volumee", r#"{"id": 7}"#]).await;
    assert_eq!(typo.status.code(), Some(2), "{}", stderr(&typo));
    assert!(
        stderr(&typo).contains("has no method `delete_volumee`; it has")
            && stderr(&typo).contains("delete_volume"),
        "{}",
        stderr(&typo)
    );
    let wrong_arg = rpcctl(&env, &["cast", topic, "delete_volume", r#"{"idd": 7}"#]).await;
    assert_eq!(wrong_arg.status.code(), Some(2), "{}", stderr(&wrong_arg));
    assert!(
        stderr(&wrong_arg).contains("unknown argument `idd`"),
        "{}",
        stderr(&wrong_arg)
    );
    let good = rpcctl(&env, &["cast", topic, "delete_volume", r#"{"id": 7}"#]).await;
    assert!(good.status.success(), "{}", stderr(&good));
    assert!(
        stderr(&good).contains("checked against a server's description"),
        "{}",
        stderr(&good)
    );
    let as_json = rpcctl(
        &env,
        &["--json", "cast", topic, "delete_volume", r#"{"id": 8}"#],
    )
    .await;
    assert_eq!(json(&as_json)["checked"], true, "{}", stderr(&as_json));
    // `--no-check` sends the typo: the broker confirms it, nobody runs it.
    let unchecked = rpcctl(
        &env,
        &[
            "--json",
            "cast",
            "--no-check",
            topic,
            "delete_volumee",
            "{}",
        ],
    )
    .await;
    let said = json(&unchecked);
    assert_eq!(said["checked"], false, "{said}");
    assert_eq!(said["unchecked_because"], "--no-check", "{said}");
    server.shutdown().await;
    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_no_server_consuming_a_call_is_refused_at_once_and_check_fails() {
    let Some(env) = Env::new(Kind::Amqp).await else {
        return;
    };
    let log = Arc::new(Log::default());
    let server = env.server("host-1", &log).await;
    server.shutdown().await;
    let topic = env.topic.as_str();
    // With a 30 s timeout, only the queue's consumer count can say this.
    let call = rpcctl(&env, &["call", topic, "whoami", "--timeout", "30s"]).await;
    assert_eq!(call.status.code(), Some(3), "{}", stderr(&call));
    assert!(
        stderr(&call).contains(&format!(
            "no server consumes topic `{topic}`: `whoami` was not sent"
        )),
        "{}",
        stderr(&call)
    );
    let checked = rpcctl(&env, &["cast", "--check", topic, "delete_volume", "{}"]).await;
    assert_eq!(checked.status.code(), Some(3), "{}", stderr(&checked));
    assert!(
        stderr(&checked).contains("`delete_volume` was not sent"),
        "{}",
        stderr(&checked)
    );
    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_name_the_broker_cannot_take_is_one_usage_error() {
    let Some(env) = Env::new(Kind::Amqp).await else {
        return;
    };
    let long = "t".repeat(300);
    for args in [
        vec!["ping", long.as_str()],
        vec!["topology", long.as_str()],
        vec!["call", "bad topic", "whoami"],
        vec!["cast", "volume", "m", "{}", "--server", long.as_str()],
    ] {
        let run = rpcctl(&env, &args).await;
        let said = stderr(&run);
        assert_eq!(run.status.code(), Some(2), "{args:?}: {said}");
        assert!(!said.contains("panicked"), "{args:?}: {said}");
        assert_eq!(said.matches("error").count(), 1, "one error: {said}");
        assert!(
            said.contains("is longer than") || said.contains("use printable ASCII"),
            "{args:?}: {said}"
        );
    }
}
