//! Compile time of a 50-method service: `#[rpc_service]` against
//! `#[tarpc::service]`, each in a scratch crate whose dependencies were
//! built beforehand, so only the crate itself is timed.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

const METHODS: usize = 50;

fn ours_source(methods: usize) -> String {
    let mut s = String::from(
        "use rpc_runtime::{rpc_service, Context};\n\n#[rpc_service(topic = \"big\")]\npub trait Big {\n",
    );
    for i in 0..methods {
        s += &format!("    async fn m{i}(&self, ctx: &Context, a: u64, b: String) -> Vec<u64>;\n");
    }
    s + "}\n"
}

fn tarpc_source(methods: usize) -> String {
    let mut s = String::from("#[tarpc::service]\npub trait Big {\n");
    for i in 0..methods {
        s += &format!("    async fn m{i}(a: u64, b: String) -> Vec<u64>;\n");
    }
    s + "}\n"
}

fn scratch(root: &Path, name: &str, deps: &str) -> PathBuf {
    let dir = root.join(name);
    std::fs::create_dir_all(dir.join("src")).expect("scratch dir");
    let manifest = format!(
        "[package]\nname = \"{name}\"\nversion = \"0.0.0\"\nedition = \"2024\"\n\n[dependencies]\n{deps}\n\n[workspace]\n"
    );
    std::fs::write(dir.join("Cargo.toml"), manifest).expect("manifest");
    dir
}

fn build(dir: &Path, source: &str) -> f64 {
    std::fs::write(dir.join("src/lib.rs"), source).expect("source");
    let started = Instant::now();
    let status = Command::new("cargo")
        .args(["build", "--quiet"])
        .current_dir(dir)
        .env("CARGO_TARGET_DIR", dir.join("target"))
        .status()
        .expect("cargo build");
    assert!(
        status.success(),
        "scratch build failed in {}",
        dir.display()
    );
    started.elapsed().as_secs_f64()
}

/// Builds both scratch crates and writes the table.
pub fn section(report: &mut String, quick: bool) {
    let _ = writeln!(
        report,
        "## Compile time of a {METHODS}-method service (debug build of the crate alone)\n"
    );
    if quick {
        let _ = writeln!(report, "Skipped in quick mode.\n");
        return;
    }
    let runtime = Path::new(env!("CARGO_MANIFEST_DIR")).join("../rpc-runtime");
    let runtime = runtime.canonicalize().expect("rpc-runtime path");
    let root = std::env::temp_dir().join("rpc-bench-compile");
    let ours = scratch(
        &root,
        "ours",
        &format!(
            "rpc-runtime = {{ path = {:?} }}\nserde = {{ version = \"1\", features = [\"derive\"] }}",
            runtime.display().to_string()
        ),
    );
    let tarpc = scratch(
        &root,
        "theirs",
        "tarpc = { version = \"0.37\", features = [\"tokio1\", \"serde1\"] }\nserde = { version = \"1\", features = [\"derive\"] }",
    );
    // Dependencies first, with a one-method trait.
    build(&ours, &ours_source(1));
    build(&tarpc, &tarpc_source(1));
    let ours_secs = build(&ours, &ours_source(METHODS));
    let tarpc_secs = build(&tarpc, &tarpc_source(METHODS));
    crate::row(report, &["macro", "build time", "ratio"].map(String::from));
    crate::row(report, &["---"; 3].map(String::from));
    crate::row(
        report,
        &[
            "#[tarpc::service]".into(),
            format!("{tarpc_secs:.2} s"),
            "1.00".into(),
        ],
    );
    crate::row(
        report,
        &[
            "#[rpc_service]".into(),
            format!("{ours_secs:.2} s"),
            format!("{:.2}", ours_secs / tarpc_secs),
        ],
    );
    let _ = writeln!(report);
}
