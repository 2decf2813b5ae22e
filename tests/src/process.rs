//! A program run as a service manager runs it: started with its stdout
//! read line by line, stopped with SIGTERM, killed if the test ends first.

use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};

/// How long a process may take to print an awaited line.
pub const WAIT: Duration = Duration::from_secs(20);

/// A running program and the lines it prints.
#[derive(Debug)]
pub struct Process {
    name: String,
    child: Child,
    lines: Lines<BufReader<ChildStdout>>,
}

impl Process {
    /// Starts `command` (its stdout piped); `name` names it in failures.
    pub fn start(name: &str, mut command: Command) -> Self {
        let mut child = command
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("start {name}: {e}"));
        let stdout = child.stdout.take().expect("its stdout");
        Self {
            name: name.to_owned(),
            child,
            lines: BufReader::new(stdout).lines(),
        }
    }

    /// Waits until the process prints a line for which `wanted` holds;
    /// returns the line.
    pub async fn wait_for(&mut self, what: &str, wanted: impl Fn(&str) -> bool) -> String {
        let name = &self.name;
        let reading = async {
            while let Some(next) = self.lines.next_line().await.expect("read its stdout") {
                if wanted(&next) {
                    return next;
                }
            }
            panic!("{name} exited before printing {what}");
        };
        tokio::time::timeout(WAIT, reading)
            .await
            .unwrap_or_else(|_| panic!("{name} did not print {what} within {WAIT:?}"))
    }

    /// The rest of what it prints, until it exits (within [`WAIT`]).
    pub async fn rest(&mut self) -> Vec<String> {
        let reading = async {
            let mut rest = Vec::new();
            while let Ok(Some(next)) = self.lines.next_line().await {
                rest.push(next);
            }
            rest
        };
        let name = &self.name;
        tokio::time::timeout(WAIT, reading)
            .await
            .unwrap_or_else(|_| panic!("{name} did not exit within {WAIT:?}"))
    }

    /// Sends it SIGTERM.
    pub fn terminate(&self) {
        let pid = self.child.id().expect("still running").to_string();
        let status = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -TERM {pid}");
    }

    /// Kills it (SIGKILL), as `kill -9` does.
    pub async fn kill(&mut self) {
        self.child.kill().await.expect("kill -9");
    }

    /// Waits for it to exit; whether it exited successfully.
    pub async fn exited_ok(&mut self) -> bool {
        tokio::time::timeout(WAIT, self.child.wait())
            .await
            .ok()
            .and_then(Result::ok)
            .is_some_and(|status| status.success())
    }
}

/// An example's binary (`mini-cloud`), built by `cargo test --workspace`
/// next to the test's.
pub fn example(name: &str) -> std::path::PathBuf {
    let me = std::env::current_exe().expect("the test's path");
    let debug = me
        .parent()
        .and_then(std::path::Path::parent)
        .expect("target/<profile>");
    let binary = debug.join("examples").join(name);
    assert!(
        binary.exists(),
        "{} is missing: run `cargo test --workspace`, which builds the examples",
        binary.display()
    );
    binary
}
