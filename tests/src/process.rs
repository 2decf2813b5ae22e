//! A program run as a service manager runs it: started with its stdout
//! read line by line (and its stderr kept, if asked), stopped with SIGTERM,
//! killed if the test ends first.

use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};
use tokio::task::JoinHandle;

/// How long a process may take to print an awaited line.
pub const WAIT: Duration = Duration::from_secs(20);

/// A running program and the lines it prints.
#[derive(Debug)]
pub struct Process {
    name: String,
    child: Child,
    lines: Lines<BufReader<ChildStdout>>,
    /// Its stderr's lines, read to the end (with [`Process::start_keeping_stderr`]).
    stderr: Option<JoinHandle<Vec<String>>>,
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
            stderr: None,
        }
    }

    /// The name it was started with.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Starts `command` as [`Process::start`] does, keeping what it prints
    /// on stderr for [`Process::stderr`].
    pub fn start_keeping_stderr(name: &str, mut command: Command) -> Self {
        command.stderr(Stdio::piped());
        let mut process = Self::start(name, command);
        let stderr = process.child.stderr.take().expect("its stderr");
        process.stderr = Some(tokio::spawn(all_lines(stderr)));
        process
    }

    /// What it printed on stderr, up to its end: call it once the process
    /// exited (its stderr closes within [`WAIT`]).
    pub async fn stderr(&mut self) -> Vec<String> {
        let name = &self.name;
        let reading = self
            .stderr
            .take()
            .unwrap_or_else(|| panic!("{name} was not started keeping its stderr"));
        tokio::time::timeout(WAIT, reading)
            .await
            .unwrap_or_else(|_| panic!("{name} did not close its stderr within {WAIT:?}"))
            .unwrap_or_else(|e| panic!("read the stderr of {name}: {e}"))
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
        let deadline = tokio::time::Instant::now() + WAIT;
        let mut rest = Vec::new();
        loop {
            match tokio::time::timeout_at(deadline, self.lines.next_line()).await {
                Ok(Ok(Some(next))) => rest.push(next),
                Ok(_) => return rest,
                Err(_) => panic!(
                    "{} did not exit within {WAIT:?}; it printed {rest:#?}",
                    self.name
                ),
            }
        }
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
        self.exit_status()
            .await
            .is_some_and(|status| status.success())
    }

    /// Waits for it to exit; how it exited, or `None` when it still runs
    /// after [`WAIT`].
    pub async fn exit_status(&mut self) -> Option<ExitStatus> {
        tokio::time::timeout(WAIT, self.child.wait())
            .await
            .ok()
            .and_then(Result::ok)
    }
}

/// Every line `output` carries until it closes (bytes that are not UTF-8
/// replaced, so that no line is lost).
async fn all_lines(output: impl AsyncRead + Unpin) -> Vec<String> {
    let mut segments = BufReader::new(output).split(b'\n');
    let mut lines = Vec::new();
    while let Ok(Some(segment)) = segments.next_segment().await {
        lines.push(String::from_utf8_lossy(&segment).into_owned());
    }
    lines
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
