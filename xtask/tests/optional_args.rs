//! The docs agree with the servers on `Option` arguments: on the oslo wire
//! (arguments by name) an `Option` one is not in the AsyncAPI `required`
//! list, since a request without it reads it as `None`; on the native wire
//! (bincode, by position) every argument is there, so all are required. The
//! Markdown page marks the argument optional on both.

use std::fs;
use std::process::Command;

const KENNEL: &str = r#"
use rpc_runtime::{Context, rpc_service};

/// A kennel.
#[rpc_service(topic = "kennel", version = "1.0")]
pub trait Kennel {
    /// Adopts a pet.
    async fn adopt(&self, ctx: &Context, name: String, species: Option<String>) -> String;
}
"#;

/// The generated AsyncAPI document and Markdown page of `Kennel` deployed
/// on `wire`.
fn generate(wire: &str) -> (String, String) {
    let scratch = tempfile::tempdir().expect("temp dir");
    let root = scratch.path();
    fs::create_dir_all(root.join("examples/src")).expect("mkdir");
    fs::write(root.join("examples/src/kennel.rs"), KENNEL).expect("write the service");
    fs::create_dir_all(root.join("docs")).expect("mkdir docs");
    let deployments = format!("[Kennel]\nwire = \"{wire}\"\nexchange = \"openstack\"\n");
    fs::write(root.join("docs/deployments.toml"), deployments).expect("write deployments");
    let out = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["gen-docs", "--root"])
        .arg(root)
        .output()
        .expect("run xtask");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let read = |file: &str| fs::read_to_string(root.join("docs/rpc").join(file)).expect(file);
    (read("Kennel.asyncapi.yaml"), read("Kennel.md"))
}

/// The `args` schema of the document's only request: its lines, from
/// `args:` to the end of its indented block.
fn args_block(doc: &str) -> String {
    let mut lines = doc.lines().skip_while(|line| line.trim() != "args:");
    let head = lines.next().expect("an args schema");
    let indent = head.len() - head.trim_start().len();
    let body = lines.take_while(|line| line.len() - line.trim_start().len() > indent);
    body.collect::<Vec<_>>().join("\n")
}

fn required(block: &str) -> Vec<&str> {
    let list = &block[block.find("required:").expect("a required list")..];
    list.lines()
        .skip(1)
        .map_while(|line| line.trim().strip_prefix("- "))
        .map(|name| name.trim_matches('"'))
        .collect()
}

#[test]
fn an_option_argument_is_not_required_on_the_oslo_wire() {
    let (doc, page) = generate("oslo");
    let args = &args_block(&doc);
    assert!(args.contains("species:"), "{args}");
    assert_eq!(required(args), ["name"], "{args}");
    assert!(
        args.contains("an `Option` one may be left out, and reads as `None`"),
        "{args}"
    );
    assert!(
        page.contains("  - `species`: `Option<String>` (optional: left out, it reads as `None`)\n"),
        "{page}"
    );
    assert!(page.contains("  - `name`: `String`\n"), "{page}");
}

#[test]
fn every_argument_is_in_place_on_the_native_wire() {
    let (doc, page) = generate("native");
    let args = &args_block(&doc);
    assert_eq!(required(args), ["name", "species"], "{args}");
    assert!(
        page.contains("  - `species`: `Option<String>` (optional: left out, it reads as `None`)\n"),
        "{page}"
    );
}
