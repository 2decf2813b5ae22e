//! The README's Rust snippets compile: each ```rust block becomes the body
//! of an async function in a module of its own (with the types it leaves
//! out declared around it), and trybuild builds them all as one program.

use std::fmt::Write as _;

/// What the snippets leave out: the types of the README's volume service.
const TYPES: &str = r#"
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Volume { pub id: VolumeId }
pub type VolumeId = u64;
#[derive(Debug, thiserror::Error, serde::Serialize, serde::Deserialize)]
pub enum VolumeError {
    #[error(transparent)]
    Rpc(#[from] rpc_runtime::RpcError),
}
"#;

/// A manager of the README's first snippet, for the snippets that serve it.
const MANAGER: &str = r#"
#[derive(Default)]
struct MyManager;
impl VolumeManager for MyManager {
    async fn create_volume(&self, _ctx: &Context, _name: String, _size_gb: u32) -> Result<Volume, VolumeError> {
        Ok(Volume { id: 1 })
    }
    async fn delete_volume(&self, _ctx: &Context, _id: VolumeId) {}
}
"#;

/// The ```rust blocks of the README, in order.
fn snippets() -> Vec<String> {
    let readme = include_str!("../../../README.md");
    readme
        .split("```rust\n")
        .skip(1)
        .filter_map(|rest| rest.split_once("\n```").map(|(code, _)| code.to_owned()))
        .collect()
}

#[test]
fn readme_snippets_compile() {
    let snippets = snippets();
    assert!(snippets.len() >= 3, "{} snippets", snippets.len());
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("readme-snippets");
    std::fs::create_dir_all(&dir).expect("a scratch directory");
    // One file, one module per snippet: one build and one link for all.
    let mut file = String::from(
        "#![allow(dead_code, unused_imports, unused_variables, private_interfaces)]\n",
    );
    for (n, code) in snippets.iter().enumerate() {
        let defines_the_trait = code.contains("pub trait VolumeManager");
        let _ = writeln!(
            file,
            "\n/// The README's snippet number {n}.\nmod readme_{n} {{\n\
             use std::time::Duration;\n\
             use rpc_runtime::{{Context, rpc_service}};\n{TYPES}"
        );
        if !defines_the_trait && code.contains("VolumeManager") {
            // The README's first snippet declares the service these use.
            let _ = writeln!(file, "{}\n{MANAGER}", snippets[0]);
        }
        let _ = writeln!(
            file,
            "async fn snippet() -> Result<(), Box<dyn std::error::Error>> {{\n{code}\nOk(())\n}}\n}}"
        );
    }
    file.push_str("\nfn main() {}\n");
    let path = dir.join("readme.rs");
    std::fs::write(&path, file).expect("write the snippets");
    trybuild::TestCases::new().pass(&path);
}
