//! Developer tasks, run as `cargo xtask <task>` (matklad's xtask pattern).

mod docs;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Developer tasks for the rpc-amqp workspace.
#[derive(Debug, Parser)]
#[command(name = "cargo xtask", version, about)]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Debug, Subcommand)]
enum Task {
    /// Writes docs/rpc/: a Markdown page, a topology diagram and an AsyncAPI
    /// 3.0 document per #[rpc_service] trait of the workspace.
    GenDocs {
        /// Writes nothing; fails when the committed docs differ from what
        /// would be generated.
        #[arg(long)]
        check: bool,
        /// The workspace root (default: the one this xtask belongs to).
        #[arg(long)]
        root: Option<PathBuf>,
    },
    /// Measures our calls and casts against hand-written amqprs and tarpc on
    /// the local RabbitMQ, side by side, and writes bench/RESULTS.md.
    Bench {
        /// One second per measurement and no compile-time comparison: only
        /// proves the benchmark still runs.
        #[arg(long)]
        quick: bool,
        /// One section (processes, calls, streams, metrics, casts, memory,
        /// allocs, rss, compile, scale); it replaces that section of
        /// bench/RESULTS.md and leaves the others as they were.
        #[arg(long)]
        only: Option<String>,
    },
    /// Runs the fault matrix on the 3-node test cluster (started if needed)
    /// and writes its table to bench/FAULTS.md.
    Faults,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.task {
        Task::GenDocs { check, root } => {
            let root = root.unwrap_or_else(workspace_root);
            docs::gen_docs(&root, check)
        }
        Task::Bench { quick, only } => bench(quick, only.as_deref()),
        Task::Faults => faults(),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

/// Runs `tests/tests/faults.rs` against the test cluster and copies the
/// table it writes to bench/FAULTS.md, under a heading that says when and
/// on what it ran.
fn faults() -> Result<(), String> {
    let root = workspace_root();
    let run = |program: &str, args: &[&str]| -> Result<(), String> {
        let status = std::process::Command::new(program)
            .args(args)
            .current_dir(&root)
            .status()
            .map_err(|e| format!("cannot run {program}: {e}"))?;
        if status.success() {
            Ok(())
        } else {
            Err(format!("`{program} {}` failed ({status})", args.join(" ")))
        }
    };
    run("bash", &["tests/cluster/cluster.sh", "start"])?;
    let tested = run(
        "cargo",
        &[
            "test",
            "-p",
            "rpc-tests",
            "--test",
            "faults",
            "--",
            "--nocapture",
        ],
    );
    let table = std::fs::read_to_string(root.join("target/faults/FAULTS.md"))
        .map_err(|e| format!("the fault matrix wrote no table: {e}"))?;
    let header = std::fs::read_to_string(root.join("bench/FAULTS.head.md"))
        .map_err(|e| format!("bench/FAULTS.head.md: {e}"))?;
    let version = std::process::Command::new("rabbitmqctl")
        .arg("version")
        .output()
        .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_owned())
        .unwrap_or_default();
    let date = std::process::Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M UTC"])
        .output()
        .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_owned())
        .unwrap_or_default();
    let page =
        format!("{header}\nLast run: {date}, RabbitMQ {version}, `cargo xtask faults`.\n\n{table}");
    std::fs::write(root.join("bench/FAULTS.md"), page)
        .map_err(|e| format!("cannot write bench/FAULTS.md: {e}"))?;
    tested
}

/// Builds and runs the benchmark crate (outside the workspace, so its
/// baselines never reach the workspace's build).
fn bench(quick: bool, only: Option<&str>) -> Result<(), String> {
    let root = workspace_root();
    let mut command = std::process::Command::new("cargo");
    command
        .args(["run", "--release", "--quiet", "--manifest-path"])
        .arg(root.join("bench/Cargo.toml"))
        .arg("--");
    if let Some(section) = only {
        command.args(["--only", section]);
    }
    if quick {
        command.arg("--quick");
    } else {
        command.arg("--out").arg(root.join("bench/RESULTS.md"));
    }
    let status = command
        .status()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("the benchmark failed ({status})"))
    }
}

fn workspace_root() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().map_or(manifest.clone(), PathBuf::from)
}
