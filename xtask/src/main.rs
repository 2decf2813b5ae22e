//! Developer tasks, run as `cargo xtask <task>` (matklad's xtask pattern).

use clap::Parser;

/// Developer tasks for the rpc-amqp workspace.
#[derive(Debug, Parser)]
#[command(name = "cargo xtask", version, about)]
struct Cli {}

fn main() {
    let _cli = Cli::parse();
    println!("no task given; see `cargo xtask --help`");
}
