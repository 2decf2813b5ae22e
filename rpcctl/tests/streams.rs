//! rpcctl and streaming methods (processes, real broker): `describe` shows
//! the stream, `call` prints its items one JSON document per line as they
//! come, and a stream that ends with the manager's error exits 1 with its
//! message after the items before it.

use rpc_runtime::Server;
use rpc_tests::conformance::{StreamerService, Streams};
use rpc_tests::{Env, Kind};
use support::{rpcctl, stderr, stdout};

mod support;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn call_prints_a_streams_items_line_by_line() {
    let Some(env) = Env::new(Kind::Amqp).await else {
        return;
    };
    let transport = env.transport().await;
    env.track_server("host-1");
    let _server = Server::builder(&transport, "host-1")
        .serve_on(&env.topic, StreamerService::new(Streams::default()))
        .start()
        .await
        .expect("serve");

    let described = rpcctl(&env, &["describe", &env.topic]).await;
    assert!(described.status.success(), "{}", stderr(&described));
    assert!(
        stdout(&described).contains("stream count(n: u64) -> RpcStream<u64, StreamError>"),
        "{}",
        stdout(&described)
    );

    for json in [false, true] {
        let mut args = vec!["call", &env.topic, "count", r#"{"n": 5}"#];
        if json {
            args.insert(0, "--json");
        }
        let out = rpcctl(&env, &args).await;
        assert!(out.status.success(), "{}", stderr(&out));
        assert_eq!(stdout(&out), "0\n1\n2\n3\n4\n", "--json: {json}");
    }

    let failed = rpcctl(&env, &["call", &env.topic, "fail_after", r#"{"n": 2}"#]).await;
    assert_eq!(failed.status.code(), Some(1), "{}", stderr(&failed));
    assert_eq!(stdout(&failed), "0\n1\n", "the items before the error");
    assert!(
        stderr(&failed).contains("gave up after 2 items"),
        "{}",
        stderr(&failed)
    );
    // A stream is read with `call`, and the mistake says so.
    let cast = rpcctl(
        &env,
        &["cast", "--check", &env.topic, "count", r#"{"n": 1}"#],
    )
    .await;
    assert_eq!(cast.status.code(), Some(2), "{}", stderr(&cast));
    assert!(
        stderr(&cast).contains("`count` is a stream; use `rpcctl call`"),
        "{}",
        stderr(&cast)
    );
    env.cleanup().await;
}
