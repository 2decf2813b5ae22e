//! The README's walkthrough of the mini-cloud over RabbitMQ, one process
//! per role, run as a newcomer would (in a vhost of its own): the api's
//! output is the README's transcript, and a second run prints the same.

use rpc_tests::env::{OwnVhost, rabbitmqctl};
use rpc_tests::process::{Process, example};
use tokio::process::Command;

/// The README's transcript of the api, with its times.
fn readme_transcript() -> Vec<String> {
    let readme = include_str!("../../README.md");
    let marker = "<!-- walkthrough: the api's output -->";
    let after = readme
        .split_once(marker)
        .map(|(_, after)| after)
        .expect("the README marks the api's transcript");
    let block = after
        .split_once("```text\n")
        .and_then(|(_, rest)| rest.split_once("```"))
        .map(|(block, _)| block)
        .expect("a text block after the marker");
    block.lines().map(without_times).collect()
}

/// `line` with each `<number> ms` as `_ ms` (times vary run to run).
fn without_times(line: &str) -> String {
    let words: Vec<&str> = line.split(' ').collect();
    let mut out = Vec::with_capacity(words.len());
    for (i, word) in words.iter().enumerate() {
        let timed = words.get(i + 1) == Some(&"ms") && word.parse::<f64>().is_ok();
        out.push(if timed { "_" } else { word });
    }
    out.join(" ")
}

fn role(url: &str, args: &[&str]) -> Command {
    let mut command = Command::new(example("mini-cloud"));
    command.args(["--amqp", url, "--role"]).args(args);
    command
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_walkthrough_reproduces() {
    // A vhost of its own: the walkthrough's names (`volume`, `scheduler`,
    // `notifications.info`) are fixed.
    let Some(vhost) = OwnVhost::new("walkthrough") else {
        return;
    };
    let url = vhost.url.clone();

    let mut services = Vec::new();
    for args in [
        &["scheduler"][..],
        &["volume", "--host", "host-1", "--capacity-gb", "100"],
        &["volume", "--host", "host-2", "--capacity-gb", "60"],
        &["billing"],
    ] {
        let mut service = Process::start(args[0], role(&url, args));
        service
            .wait_for("that it serves", |l| l.contains("SIGTERM stops"))
            .await;
        services.push(service);
    }
    let expected = readme_transcript();
    for run in 1..=2 {
        let mut api = Process::start("api", role(&url, &["api"]));
        let printed: Vec<String> = api.rest().await.iter().map(|l| without_times(l)).collect();
        assert!(api.exited_ok().await, "api run {run} failed: {printed:#?}");
        assert_eq!(printed, expected, "api run {run}");
    }
    // Billing heard each created volume's start and end, twice.
    let billing = services.last_mut().expect("billing");
    for n in 1..=12 {
        billing
            .wait_for(&format!("billing event {n}"), |l| {
                l.starts_with("billing    <- volume.create.")
            })
            .await;
    }
    for service in &services {
        service.terminate();
    }
    for service in &mut services {
        assert!(service.exited_ok().await, "a service stops on SIGTERM");
    }
    // What the README says is left: the notifications' default queue
    // billing reads, no queue of a priority nobody reads.
    let queues = rabbitmqctl(&["list_queues", "-q", "-p", &vhost.name, "name"])
        .expect("rabbitmqctl list_queues");
    let notifications: Vec<&str> = queues
        .lines()
        .map(str::trim)
        .filter(|q| q.starts_with("notifications."))
        .collect();
    assert_eq!(notifications, ["notifications.info"], "{queues}");
    drop(vhost);
}

#[test]
fn times_are_left_out_of_the_comparison() {
    assert_eq!(
        without_times("api        -> x   call 0.9 ms"),
        "api        -> x   call _ ms"
    );
    assert_eq!(without_times("a 40 GB"), "a 40 GB");
}
