//! `cargo xtask gen-docs --check` notices a changed trait; a service
//! without a deployment entry is refused with a message naming it.

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
    write_deployments(scratch.path(), true);

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

fn write_deployments(root: &Path, with_volume: bool) {
    let mut text =
        String::from("[SchedulerManager]\nwire = \"native\"\nexchange = \"openstack\"\n");
    if with_volume {
        text.push_str("[VolumeManager]\nwire = \"oslo\"\nexchange = \"cinder\"\n");
    }
    fs::create_dir_all(root.join("docs")).expect("mkdir docs");
    fs::write(root.join("docs/deployments.toml"), text).expect("write deployments");
}

#[test]
fn the_deployment_is_read_not_assumed() {
    let scratch = tempfile::tempdir().expect("temp dir");
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/src/services.rs");
    let copy = scratch.path().join("examples/src/services.rs");
    fs::create_dir_all(copy.parent().expect("parent")).expect("mkdir");
    fs::copy(&source, &copy).expect("copy the example services");

    write_deployments(scratch.path(), false);
    let missing = xtask(scratch.path(), false);
    assert!(!missing.status.success());
    let stderr = String::from_utf8_lossy(&missing.stderr);
    assert!(
        stderr.contains(
            "docs/deployments.toml: `VolumeManager` (examples/src/services.rs) has no entry"
        ),
        "{stderr}"
    );

    write_deployments(scratch.path(), true);
    let written = xtask(scratch.path(), false);
    assert!(
        written.status.success(),
        "{}",
        String::from_utf8_lossy(&written.stderr)
    );
    let doc = fs::read_to_string(scratch.path().join("docs/rpc/VolumeManager.asyncapi.yaml"))
        .expect("the document");
    assert!(
        doc.contains("defaultContentType: \"application/json\""),
        "oslo wire: JSON"
    );
    assert!(
        doc.contains("name: \"cinder\""),
        "the deployment's exchange"
    );
    assert!(!doc.contains("name: \"openstack\""), "no assumed exchange");
}

#[test]
fn without_deployments_it_says_what_to_write_and_that_text_works() {
    let scratch = tempfile::tempdir().expect("temp dir");
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/src/services.rs");
    let copy = scratch.path().join("src/services.rs");
    fs::create_dir_all(copy.parent().expect("parent")).expect("mkdir");
    let text = fs::read_to_string(&source).expect("read the example services");
    let linked = text.replace(
        "/// The hosts known so far",
        "/// The [`HostState`]s known so far",
    );
    assert_ne!(text, linked, "the example's doc moved; update this test");
    fs::write(&copy, linked).expect("write");

    let missing = xtask(scratch.path(), false);
    assert!(!missing.status.success());
    let stderr = String::from_utf8_lossy(&missing.stderr);
    assert!(
        stderr.contains("docs/deployments.toml does not exist"),
        "{stderr}"
    );
    // The message ends with the file to write; written as given, it works.
    let template = stderr
        .split_once("for example:\n")
        .map(|(_, toml)| toml)
        .unwrap_or_else(|| panic!("no example in: {stderr}"));
    for service in ["[VolumeManager]", "[SchedulerManager]"] {
        assert!(template.contains(service), "{template}");
    }
    fs::create_dir_all(scratch.path().join("docs")).expect("mkdir docs");
    fs::write(scratch.path().join("docs/deployments.toml"), template).expect("write");
    let written = xtask(scratch.path(), false);
    assert!(
        written.status.success(),
        "{}",
        String::from_utf8_lossy(&written.stderr)
    );

    // rustdoc's intra-doc links are code spans in the Markdown, not
    // brackets that lead nowhere.
    let page =
        fs::read_to_string(scratch.path().join("docs/rpc/SchedulerManager.md")).expect("the page");
    assert!(page.contains("The `HostState`s known so far"), "{page}");
    assert!(!page.contains("[`HostState`]"), "{page}");
}
