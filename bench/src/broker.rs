//! What the scale bench asks the broker through `rabbitmqctl`: its
//! connections and channels, queues, memory, and whether it runs the
//! management plugin.

use std::process::Command;

fn ctl(args: &[&str]) -> String {
    Command::new("rabbitmqctl")
        .args(args)
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default()
}

/// Whether the broker runs its management plugin, whose statistics (every
/// queue, channel and consumer, every 5 s) are most of an idle broker's
/// work at thousands of queues.
pub(crate) fn management_on() -> bool {
    let expr = "lists:keymember(rabbitmq_management, 1, application:which_applications()).";
    ctl(&["eval", expr]).trim() == "true"
}

/// The broker's memory in bytes, after collecting every process's garbage
/// (what a few hundred servers take is smaller than its swings).
pub(crate) fn broker_memory() -> u64 {
    let collect = "[erlang:garbage_collect(P) || P <- erlang:processes()], erlang:memory(total).";
    ctl(&["eval", collect]).trim().parse().unwrap_or(0)
}

/// Connections and their channels, as the broker counts them.
pub(crate) fn connections() -> (usize, u64) {
    let out = ctl(&["list_connections", "-q", "--no-table-headers", "channels"]);
    let channels: Vec<u64> = out.lines().filter_map(|l| l.trim().parse().ok()).collect();
    (channels.len(), channels.iter().sum())
}

/// Queues whose names start with `topic`.
pub(crate) fn queues(topic: &str) -> usize {
    let out = ctl(&["list_queues", "-q", "--no-table-headers", "name"]);
    out.lines().filter(|q| q.starts_with(topic)).count()
}
