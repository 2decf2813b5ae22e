//! The README's walkthrough stopped by SIGTERM, 50 times, while the api is
//! talking to the services: every service exits successfully within
//! [`WAIT`], and no process (service or api) prints a panic on its stderr.
//!
//! amqprs once panicked in 2 of about 30 such stops of a volume host that
//! had served traffic (`dispatcher.rs:281`, an `unwrap()` on `Err(())`: an
//! operation dropped half-way as the process ended). It panicked in a task
//! of its own, so the host still exited successfully: only its stderr
//! showed it, which is why every stderr is read here. Built from the commit
//! before 68df37d (which made closing wait for such operations), this test
//! saw that panic in about one round in 20, in every role and in the api.
//!
//! Each round runs in a vhost of its own (the walkthrough's names are
//! fixed); a few rounds run at a time. A round serves one whole api run (the
//! uptime with traffic), starts a second one and sends SIGTERM to every
//! service after that run printed a number of lines that changes from round
//! to round, so the services stop at every step of the api's scenario.

use std::collections::HashMap;
use std::process::ExitStatus;
use std::time::Instant;

use futures_util::future::join_all;
use rpc_tests::env::OwnVhost;
use rpc_tests::process::{Process, WAIT, example};
use tokio::process::Command;
use tokio::task::JoinSet;

/// How many times the services are stopped.
const ROUNDS: usize = 50;

/// How many rounds run at a time.
const AT_ONCE: usize = 4;

/// The walkthrough's services: a name and the role's arguments.
const SERVICES: [(&str, &[&str]); 4] = [
    ("scheduler", &["scheduler"]),
    (
        "volume host-1",
        &["volume", "--host", "host-1", "--capacity-gb", "100"],
    ),
    (
        "volume host-2",
        &["volume", "--host", "host-2", "--capacity-gb", "60"],
    ),
    ("billing", &["billing"]),
];

/// How many lines a whole api run prints (the README's transcript).
const API_LINES: usize = 14;

/// Something a round saw that it should not have.
#[derive(Debug)]
struct Failure {
    round: usize,
    process: String,
    what: String,
    stderr: Vec<String>,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "round {}, {}: {}", self.round, self.process, self.what)?;
        for line in excerpt(&self.stderr) {
            write!(f, "\n    stderr: {line}")?;
        }
        Ok(())
    }
}

/// How many lines of a stderr without a panic a failure shows (its last).
const SHOWN: usize = 12;

/// The lines of `stderr` a failure shows: each panic's first two (where,
/// and its message) without the backtrace `RUST_BACKTRACE` adds; else its
/// last [`SHOWN`]. A last line says how many were left out.
fn excerpt(stderr: &[String]) -> Vec<String> {
    let mut shown: Vec<String> = stderr
        .iter()
        .enumerate()
        .filter(|(_, line)| is_panic(line))
        .flat_map(|(at, _)| stderr.iter().skip(at).take(2).cloned())
        .collect();
    if shown.is_empty() {
        shown = stderr[stderr.len().saturating_sub(SHOWN)..].to_vec();
    }
    if shown.len() < stderr.len() {
        shown.push(format!(
            "({} of its {} lines shown)",
            shown.len(),
            stderr.len()
        ));
    }
    shown
}

fn role(url: &str, args: &[&str]) -> Command {
    let mut command = Command::new(example("mini-cloud"));
    command.args(["--amqp", url, "--role"]).args(args);
    command
}

/// Whether `line` is (the start of) a Rust panic's report, as the default
/// panic hook prints it.
fn is_panic(line: &str) -> bool {
    line.contains("panicked at") || (line.contains("thread '") && line.contains("' panicked"))
}

/// How a process exited, worded for a failure; `None` when successfully.
fn unsuccessful(status: Option<ExitStatus>) -> Option<String> {
    match status {
        Some(status) if status.success() => None,
        Some(status) => Some(format!("exited with {status}")),
        None => Some(format!("still ran {WAIT:?} later")),
    }
}

/// A vhost for round `n`, made off the runtime's workers (rabbitmqctl
/// takes a while); `None` when there is no broker (see [`OwnVhost::new`]).
async fn own_vhost(n: usize) -> Option<OwnVhost> {
    tokio::task::spawn_blocking(move || OwnVhost::new(&format!("walkthrough-sigterm-{n}")))
        .await
        .expect("make a vhost")
}

/// Starts the services in `url`'s vhost and waits until each serves.
async fn start_services(url: &str) -> Vec<Process> {
    let mut services: Vec<Process> = SERVICES
        .iter()
        .map(|(name, args)| Process::start_keeping_stderr(name, role(url, args)))
        .collect();
    for service in &mut services {
        service
            .wait_for("that it serves", |l| l.contains("SIGTERM stops"))
            .await;
    }
    services
}

/// One round in `vhost`: what went wrong in it.
async fn round(n: usize, vhost: OwnVhost) -> Vec<Failure> {
    let url = vhost.url.clone();
    let mut services = start_services(&url).await;

    // Uptime with traffic: one whole run of the api.
    let mut first = Process::start_keeping_stderr("api (first run)", role(&url, &["api"]));
    let printed = first.rest().await;
    let mut first_problems = Vec::new();
    if !first.exited_ok().await {
        first_problems.push(format!("failed, having printed {printed:?}"));
    }

    // Traffic in flight: a second run, which the services leave after its
    // `lines`th line (it may fail then, but must not panic).
    let mut second = Process::start_keeping_stderr("api (second run)", role(&url, &["api"]));
    let lines = n % API_LINES;
    for line in 1..=lines {
        second.wait_for(&format!("its line {line}"), |_| true).await;
    }
    for service in &services {
        service.terminate();
    }

    // Each within WAIT of the SIGTERM.
    let exits = join_all(services.iter_mut().map(Process::exit_status)).await;
    let mut failures = Vec::new();
    let sigterm = format!("SIGTERM after the second api run's line {lines}");
    for (service, exit) in services.iter_mut().zip(exits) {
        let problems = Vec::from_iter(unsuccessful(exit));
        if !problems.is_empty() {
            service.kill().await;
        }
        failures.extend(check(n, service, problems, &sigterm).await);
    }
    let mut second_problems = Vec::new();
    if second.exit_status().await.is_none() {
        second.kill().await;
        second_problems.push(format!("still ran {WAIT:?} after its services stopped"));
    }
    failures.extend(check(n, &mut second, second_problems, &sigterm).await);
    failures.extend(check(n, &mut first, first_problems, "before any SIGTERM").await);

    // rabbitmqctl, off the runtime's workers.
    tokio::task::spawn_blocking(move || drop(vhost))
        .await
        .expect("delete the vhost");
    failures
}

/// The failure of `process`, which has ended, if `problems` were seen or
/// it printed a panic on its stderr; `when` says at which step.
async fn check(
    round: usize,
    process: &mut Process,
    mut problems: Vec<String>,
    when: &str,
) -> Option<Failure> {
    let stderr = process.stderr().await;
    if stderr.iter().any(|line| is_panic(line)) {
        problems.push("panicked".to_owned());
    }
    (!problems.is_empty()).then(|| Failure {
        round,
        process: process.name().to_owned(),
        what: format!("{} ({when})", problems.join(", ")),
        stderr,
    })
}

/// Rounds run as tasks of a [`JoinSet`], each known by its task.
#[derive(Debug, Default)]
struct Rounds {
    running: JoinSet<Vec<Failure>>,
    by_task: HashMap<tokio::task::Id, usize>,
    failures: Vec<Failure>,
}

impl Rounds {
    /// Starts round `n`, in `vhost` if given, else in one of its own.
    fn start(&mut self, n: usize, vhost: Option<OwnVhost>) {
        let task = self.running.spawn(async move {
            let vhost = match vhost {
                Some(vhost) => vhost,
                None => own_vhost(n)
                    .await
                    .unwrap_or_else(|| panic!("no vhost for round {n}, though round 1 had one")),
            };
            round(n, vhost).await
        });
        self.by_task.insert(task.id(), n);
    }

    /// Waits for a round to finish, keeping its failures (or its own
    /// failure, if it panicked); false when none was running.
    async fn finish_one(&mut self) -> bool {
        let Some(joined) = self.running.join_next().await else {
            return false;
        };
        match joined {
            Ok(failures) => self.failures.extend(failures),
            Err(error) => self.failures.push(Failure {
                round: self.by_task.get(&error.id()).copied().unwrap_or(0),
                process: "the round itself".to_owned(),
                what: error.to_string(),
                stderr: Vec::new(),
            }),
        }
        true
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn services_stop_on_sigterm_without_panicking() {
    let started = Instant::now();
    // Round 1's vhost tells whether there is a broker to test on.
    let Some(vhost) = own_vhost(1).await else {
        return;
    };
    let mut rounds = Rounds::default();
    rounds.start(1, Some(vhost));
    for n in 2..=ROUNDS {
        if rounds.running.len() == AT_ONCE {
            rounds.finish_one().await;
        }
        rounds.start(n, None);
    }
    while rounds.finish_one().await {}

    let mut failures = rounds.failures;
    failures.sort_by_key(|failure| failure.round);
    println!(
        "{ROUNDS} rounds, {AT_ONCE} at a time, in {:.1} s: {} failures",
        started.elapsed().as_secs_f64(),
        failures.len()
    );
    let report: Vec<String> = failures.iter().map(Failure::to_string).collect();
    assert!(
        failures.is_empty(),
        "{} failures in {ROUNDS} rounds:\n{}",
        failures.len(),
        report.join("\n")
    );
}

#[test]
fn panic_reports_are_recognized() {
    let amqprs = "thread 'tokio-runtime-worker' panicked at /root/.cargo/registry/src/\
                  index.crates.io-1949cf8c6b5b557f/amqprs-2.1.5/src/api/channel/\
                  dispatcher.rs:281:56:";
    assert!(is_panic(amqprs));
    assert!(is_panic(
        "thread 'main' panicked at 'explicit panic', src/main.rs:2:5"
    ));
    assert!(is_panic(
        "thread '<unnamed>' panicked while processing panic"
    ));
    assert!(!is_panic(
        "2025-01-01T00:00:00Z  WARN rpc_runtime: server stopped with requests still running"
    ));
    assert!(!is_panic("host-1     <- create_volume #1 `db` (40 GB)"));
}

#[test]
fn a_panic_is_shown_without_its_backtrace() {
    let stderr: Vec<String> = [
        "",
        "thread 'tokio-rt-worker' panicked at amqprs-2.1.5/src/api/channel/dispatcher.rs:281:52:",
        "called `Result::unwrap()` on an `Err` value: ()",
        "stack backtrace:",
        "   0: __rustc::rust_begin_unwind",
    ]
    .map(str::to_owned)
    .to_vec();
    assert_eq!(
        excerpt(&stderr),
        [
            stderr[1].as_str(),
            stderr[2].as_str(),
            "(2 of its 5 lines shown)"
        ]
    );
    let quiet = vec!["a warning".to_owned()];
    assert_eq!(excerpt(&quiet), quiet);
}
