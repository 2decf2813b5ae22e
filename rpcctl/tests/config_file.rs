//! `rpcctl --config-file nova.conf` finds the broker, the control exchange
//! and the wire where the service does, and names the options it does not
//! use.

use std::process::Command;
use std::sync::Arc;

use rpc_runtime::wire::Wire;
use rpc_tests::env::amqp_url;
use rpc_tests::volume::Log;
use rpc_tests::{Env, Kind};
use support::{json, stderr};

mod support;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rpcctl_reads_the_services_config_file() {
    let Some(env) = Env::speaking(Kind::Amqp, Wire::Oslo).await else {
        return;
    };
    let log = Arc::new(Log::default());
    let _server = env.server("host-1", &log).await;
    let path = std::env::temp_dir().join(format!("{}.conf", env.topic));
    let url = amqp_url().replacen("amqp://", "rabbit://", 1);
    let text = format!(
        "[DEFAULT]\ntransport_url = {url}\ncontrol_exchange = {}\n\n\
         [oslo_messaging_rabbit]\nrabbit_retry_interval = 1\n",
        env.exchange
    );
    std::fs::write(&path, text).expect("write the config file");
    let mut command = Command::new(env!("CARGO_BIN_EXE_rpcctl"));
    command
        .arg("--config-file")
        .arg(&path)
        .args(["--json", "call", &env.topic, "whoami"])
        .env("NO_COLOR", "1");
    let output = tokio::task::spawn_blocking(move || command.output().expect("run rpcctl"))
        .await
        .expect("rpcctl task");
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(json(&output), "host-1", "{}", stderr(&output));
    assert!(
        stderr(&output).contains("[oslo_messaging_rabbit] rabbit_retry_interval"),
        "{}",
        stderr(&output)
    );
    let _ = std::fs::remove_file(&path);
    env.cleanup().await;
}
