//! Running rpcctl as a process against the test broker.

// Each test file uses a part of this module.
#![allow(dead_code)]

use std::process::{Command, Output};

use rpc_runtime::wire::Wire;
use rpc_tests::Env;
use rpc_tests::env::amqp_url;

/// Runs rpcctl (off the runtime's workers: the servers it talks to run
/// there) on the wire of `env`.
pub(crate) async fn rpcctl(env: &Env, args: &[&str]) -> Output {
    rpcctl_on(env, env.wire.expect("a built-in wire"), args).await
}

/// Runs rpcctl on `wire`.
pub(crate) async fn rpcctl_on(env: &Env, wire: Wire, args: &[&str]) -> Output {
    let url = match wire {
        Wire::Oslo => format!("{}?wire=oslo", amqp_url()),
        Wire::Native => amqp_url(),
    };
    rpcctl_at(&url, &env.exchange, args).await
}

pub(crate) fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub(crate) fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Runs rpcctl with `url` (any broker, any credentials).
pub(crate) async fn rpcctl_at(url: &str, exchange: &str, args: &[&str]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_rpcctl"));
    command
        .args(["--url", url, "--exchange", exchange])
        .args(args)
        .env("NO_COLOR", "1");
    tokio::task::spawn_blocking(move || command.output().expect("run rpcctl"))
        .await
        .expect("rpcctl task")
}

/// Its stdout as one JSON document.
pub(crate) fn json(output: &Output) -> serde_json::Value {
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", stdout(output)))
}
