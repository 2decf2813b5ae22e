//! A test skipped for want of what it needs (a broker, the oslo.messaging
//! virtualenv, the test cluster) says so in the default `cargo test`
//! output, not only with `--nocapture`.

use rpc_tests::{Env, Kind};

/// Needs the broker; run by the test below against a port nobody listens
/// on, outside CI, where it is skipped.
#[tokio::test]
async fn needs_a_broker() {
    if let Some(env) = Env::new(Kind::Amqp).await {
        env.cleanup().await;
    }
}

#[test]
fn a_skipped_test_says_so_in_the_default_output() {
    let run = std::process::Command::new(std::env::current_exe().expect("this test binary"))
        .args(["--exact", "needs_a_broker"])
        .env("RPC_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:9/%2f")
        .env_remove("CI")
        .output()
        .expect("run the test binary");
    let stdout = String::from_utf8_lossy(&run.stdout);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{stdout}{stderr}");
    assert!(
        stdout.contains("1 passed"),
        "the skipped test ran: {stdout}"
    );
    assert!(
        stderr.contains("SKIPPED needs_a_broker: no RabbitMQ at amqp://guest:***@127.0.0.1:9/"),
        "the skip and its reason are shown without --nocapture; stderr: {stderr}"
    );
}
