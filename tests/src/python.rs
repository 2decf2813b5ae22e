//! Runs the Python side of the interop tests: `tests/oslo/peer.py` on the
//! real oslo.messaging, from the virtualenv `.ci/run` builds
//! (`target/oslo-venv`, or the interpreter named by `RPC_TEST_PYTHON`).
//! Without it a test fails under `CI=true` and is skipped otherwise.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};

use crate::env::{amqp_url, in_ci};

/// How long a Python process may take to start (importing oslo.messaging
/// is slow on a loaded machine).
const START: Duration = Duration::from_secs(60);

/// The Python interpreter with oslo.messaging, and the broker URL in
/// oslo's form.
#[derive(Debug, Clone)]
pub struct Python {
    exe: PathBuf,
    script: PathBuf,
    url: String,
}

impl Python {
    /// The interpreter, or `None` (after printing why) when it is missing
    /// outside CI; under `CI=true` a missing one fails the test.
    pub fn find() -> Option<Self> {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let exe = std::env::var_os("RPC_TEST_PYTHON").map_or_else(
            || root.join("../target/oslo-venv/bin/python"),
            PathBuf::from,
        );
        let works = std::process::Command::new(&exe)
            .args(["-c", "import oslo_messaging"])
            .env("PYTHONWARNINGS", "ignore")
            .output()
            .is_ok_and(|out| out.status.success());
        if !works {
            let why = format!(
                "no Python with oslo.messaging at {} (run `bash tests/oslo/venv.sh`)",
                exe.display()
            );
            assert!(!in_ci(), "CI=true but {why}");
            crate::env::skipped(&why);
            return None;
        }
        Some(Self {
            exe,
            script: root.join("oslo/peer.py"),
            url: amqp_url().replacen("amqp://", "rabbit://", 1),
        })
    }

    /// The same interpreter, giving oslo.messaging `url` (a `transport_url`).
    pub fn with_url(&self, url: &str) -> Self {
        Self {
            url: url.to_owned(),
            ..self.clone()
        }
    }

    fn command(&self, role: &str, args: &[&str]) -> Command {
        self.command_on(role, &self.url, args)
    }

    /// `peer.py role first args...`.
    fn command_on(&self, role: &str, first: &str, args: &[&str]) -> Command {
        let mut command = Command::new(&self.exe);
        command
            .arg(&self.script)
            .arg(role)
            .arg(first)
            .args(args)
            .env("PYTHONWARNINGS", "ignore")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            // A group of its own: oslo's queue manager reads its process
            // group leader's `/proc/<pgid>/stat`, and the test runner's
            // group leader may be gone (CI's shell).
            .process_group(0)
            .kill_on_drop(true);
        command
    }

    /// Starts a Python RPC server named `server` on `topic`; returns once
    /// its queues exist. It stops when the returned handle is dropped.
    pub async fn server(&self, exchange: &str, topic: &str, server: &str) -> PythonServer {
        started(self.command("server", &[exchange, topic, server])).await
    }

    /// Starts a Python RPC server configured by the oslo.config file at
    /// `config`, like [`Python::server`].
    pub async fn server_configured_by(
        &self,
        config: &std::path::Path,
        topic: &str,
        server: &str,
    ) -> PythonServer {
        let config = config.to_str().expect("a UTF-8 path");
        started(self.command_on("config-server", config, &[topic, server])).await
    }

    /// Runs `operations` (see `peer.py`) with a Python RPC client on
    /// `topic`; returns one outcome per operation.
    pub async fn client(&self, exchange: &str, topic: &str, operations: &Value) -> Vec<Value> {
        run_client(self.command("client", &[exchange, topic]), operations).await
    }

    /// Runs `operations` with a Python RPC client configured by the
    /// oslo.config file at `config` (its `transport_url` and
    /// `control_exchange`), on `topic`.
    pub async fn client_configured_by(
        &self,
        config: &std::path::Path,
        topic: &str,
        operations: &Value,
    ) -> Vec<Value> {
        let config = config.to_str().expect("a UTF-8 path");
        run_client(
            self.command_on("config-client", config, &[topic]),
            operations,
        )
        .await
    }

    /// Publishes, through the broker at `host` (`host:port`), a message
    /// whose content type is not UTF-8 (see `tests/faults/poison.py`).
    pub async fn publish_poison(&self, host: &str, exchange: &str, routing_key: &str) {
        let script = self.script.with_file_name("../faults/poison.py");
        let output = Command::new(&self.exe)
            .arg(script)
            .args([host, exchange, routing_key])
            .env("PYTHONWARNINGS", "ignore")
            .output();
        let output = tokio::time::timeout(START, output)
            .await
            .expect("the poison publisher finished in time")
            .expect("the poison publisher ran");
        assert!(output.status.success(), "publishing the poison: {output:?}");
    }
}

/// A running Python server; dropping it closes its stdin and kills it.
#[derive(Debug)]
pub struct PythonServer {
    _child: Child,
}

/// Runs a Python client `command` on `operations`; one outcome per operation.
async fn run_client(mut command: Command, operations: &Value) -> Vec<Value> {
    let mut child = command.spawn().expect("start the Python client");
    let mut stdin = child.stdin.take().expect("piped stdin");
    stdin
        .write_all(operations.to_string().as_bytes())
        .await
        .expect("write the operations");
    drop(stdin);
    let output = tokio::time::timeout(START * 2, child.wait_with_output())
        .await
        .expect("the Python client finished in time")
        .expect("the Python client ran");
    assert!(
        output.status.success(),
        "the Python client failed: {output:?}"
    );
    let outcomes: Value =
        serde_json::from_slice(&output.stdout).expect("the Python client printed JSON");
    outcomes.as_array().cloned().expect("a list of outcomes")
}

/// Spawns a Python server and waits until it says `ready`.
async fn started(mut command: Command) -> PythonServer {
    let mut child = command.spawn().expect("start the Python server");
    let stdout = child.stdout.take().expect("piped stdout");
    let mut lines = BufReader::new(stdout).lines();
    let ready = tokio::time::timeout(START, lines.next_line()).await;
    match ready {
        Ok(Ok(Some(line))) if line == "ready" => PythonServer { _child: child },
        other => panic!("the Python server did not start: {other:?}"),
    }
}
