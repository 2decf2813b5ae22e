//! The 3-node RabbitMQ cluster of `tests/cluster/cluster.sh` (node N: AMQP
//! on 127.0.0.1:568N, AMQPS on 569N), and what the cluster tests do to its
//! nodes: kill one, pause one, start one again.
//!
//! `.ci/run` starts the cluster; without it a cluster test fails under
//! `CI=true` and is skipped otherwise.

use std::path::PathBuf;
use std::time::Duration;

use tokio::sync::{Mutex, MutexGuard};

use crate::env::in_ci;

/// The cluster tests kill and pause nodes: one test at a time.
static IN_USE: Mutex<()> = Mutex::const_new(());

/// A handle on the fixture's cluster, held by one test at a time.
#[derive(Debug)]
pub struct Cluster {
    script: PathBuf,
    dir: PathBuf,
    _turn: MutexGuard<'static, ()>,
}

impl Cluster {
    /// The cluster with every node running, or `None` (after printing why)
    /// when the fixture is not started outside CI.
    pub async fn get() -> Option<Self> {
        let turn = IN_USE.lock().await;
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let cluster = Self {
            script: root.join("cluster/cluster.sh"),
            dir: root.join("../target/rabbit-cluster"),
            _turn: turn,
        };
        if !cluster.dir.join("tls/ca.pem").exists() {
            let why = "the test cluster is not running (start it with `bash tests/cluster/cluster.sh start`)";
            assert!(!in_ci(), "CI=true but {why}");
            crate::env::skipped(why);
            return None;
        }
        for node in 1..=3 {
            cluster.start_node(node).await;
        }
        Some(cluster)
    }

    /// An AMQP URL listing the nodes in `order`.
    pub fn url(&self, order: [u8; 3]) -> String {
        let hosts: Vec<String> = order.iter().map(|n| format!("127.0.0.1:568{n}")).collect();
        format!("amqp://guest:guest@{}/%2f", hosts.join(","))
    }

    /// The AMQPS URL of `node`, trusting the fixture's CA.
    pub fn tls_url(&self, node: u8) -> String {
        format!(
            "amqps://guest:guest@127.0.0.1:569{node}/%2f?cacertfile={}",
            self.tls_file("ca.pem").display()
        )
    }

    /// A file of the fixture's TLS material: `ca.pem`, `client.pem`,
    /// `client.key`, `other-ca.pem`.
    pub fn tls_file(&self, name: &str) -> PathBuf {
        self.dir.join("tls").join(name)
    }

    fn pid(&self, node: u8) -> String {
        std::fs::read_to_string(self.dir.join(format!("node{node}/pid")))
            .expect("the node's pid file")
            .trim()
            .to_owned()
    }

    /// Runs `rabbitmqctl ARGS` against `node`; returns what it printed.
    pub async fn ctl(&self, node: u8, args: &[&str]) -> String {
        let script = self.script.clone();
        let mut command = vec!["ctl".to_owned(), node.to_string()];
        command.extend(args.iter().map(|a| (*a).to_owned()));
        let out = tokio::task::spawn_blocking(move || {
            std::process::Command::new("bash")
                .arg(script)
                .args(command)
                .output()
        })
        .await
        .expect("rabbitmqctl task")
        .expect("run cluster.sh ctl");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Sets the `rabbit` application's `key` to `value` (an Erlang term) on
    /// every node, for channels opened from now on; returns how each node
    /// had it (`{ok,1800000}`, `undefined`), for [`Cluster::restore_env`].
    pub async fn set_env(&self, key: &str, value: &str) -> Vec<String> {
        let mut before = Vec::new();
        for node in 1..=3 {
            let get = format!("application:get_env(rabbit, {key}).");
            before.push(self.ctl(node, &["eval", &get]).await.trim().to_owned());
            let set = format!("application:set_env(rabbit, {key}, {value}).");
            self.ctl(node, &["eval", &set]).await;
        }
        before
    }

    /// Puts `key` back as [`Cluster::set_env`] found it.
    pub async fn restore_env(&self, key: &str, before: &[String]) {
        for (node, was) in (1..=3).zip(before) {
            let eval = match was.strip_prefix("{ok,").and_then(|v| v.strip_suffix('}')) {
                Some(value) => format!("application:set_env(rabbit, {key}, {value})."),
                None => format!("application:unset_env(rabbit, {key})."),
            };
            self.ctl(node, &["eval", &eval]).await;
        }
    }

    /// Sends `signal` (`KILL`, `STOP`, `CONT`) to `node`'s Erlang VM.
    pub fn signal(&self, node: u8, signal: &str) {
        let status = std::process::Command::new("kill")
            .args([&format!("-{signal}"), &self.pid(node)])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{signal} node {node}");
    }

    /// Starts `node` if it is not running (and resumes it if paused).
    pub async fn start_node(&self, node: u8) {
        if self.dir.join(format!("node{node}/pid")).exists() {
            // The node may be dead (a test killed it): nothing to resume then.
            let _ = std::process::Command::new("kill")
                .args(["-CONT", &self.pid(node)])
                .stderr(std::process::Stdio::null())
                .status();
        }
        let script = self.script.clone();
        let started = tokio::task::spawn_blocking(move || {
            std::process::Command::new("bash")
                .arg(script)
                .args(["start-node", &node.to_string()])
                .status()
        })
        .await
        .expect("start-node task")
        .expect("run cluster.sh");
        assert!(started.success(), "start node {node}");
    }
}

/// Polls `check` every 50 ms until it is true or `within` passed.
pub async fn eventually(within: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if check() {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Checks `check` every 200 ms until it is true or `within` passed.
pub async fn eventually_async<F, Fut>(within: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if check().await {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
