//! `cargo xtask gen-docs --check` notices a changed trait.

use std::fs;
use std::path::Path;
use std::process::Command;

fn xtask(root: &Path, check: bool) -> std::process::Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_xtask"));
    command.args(["gen-docs", "--root"]).arg(root);
    if check {
        command.arg("--check");
    }
    command.output().expect("run xtask")
}

#[test]
fn check_fails_after_a_signature_changes() {
    let scratch = tempfile::tempdir().expect("temp dir");
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/src/services.rs");
    let copy = scratch.path().join("examples/src/services.rs");
    fs::create_dir_all(copy.parent().expect("parent")).expect("mkdir");
    fs::copy(&source, &copy).expect("copy the example services");

    assert!(
        xtask(scratch.path(), false).status.success(),
        "generating works"
    );
    let fresh = xtask(scratch.path(), true);
    assert!(
        fresh.status.success(),
        "fresh docs pass: {}",
        String::from_utf8_lossy(&fresh.stderr)
    );

    let text = fs::read_to_string(&copy).expect("read");
    let changed = text.replace(
        "async fn select_host(&self, ctx: &Context, size_gb: u32)",
        "async fn select_host(&self, ctx: &Context, size_gb: u64)",
    );
    assert_ne!(
        text, changed,
        "the example's signature moved; update this test"
    );
    fs::write(&copy, changed).expect("write");

    let stale = xtask(scratch.path(), true);
    assert!(
        !stale.status.success(),
        "a changed signature must fail the check"
    );
    let stderr = String::from_utf8_lossy(&stale.stderr);
    assert!(stderr.contains("SchedulerManager.md"), "{stderr}");
    assert!(
        stderr.contains("SchedulerManager.asyncapi.yaml"),
        "{stderr}"
    );
}
