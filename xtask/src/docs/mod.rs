//! `cargo xtask gen-docs`: documentation generated from the service traits,
//! read with the same parser the macro uses (`rpc-model`).
//!
//! For each `#[rpc_service]` trait it writes `docs/rpc/<Trait>.md` (methods,
//! types, notifications and a Mermaid topology diagram) and
//! `docs/rpc/<Trait>.asyncapi.yaml` (AsyncAPI 3.0 with AMQP bindings), plus
//! `docs/rpc/README.md`, the index. How each service is deployed (wire,
//! exchange, notifications) comes from `docs/deployments.toml`.

mod asyncapi;
mod deploy;
mod find;
mod markdown;
mod mermaid;
mod messages;
mod schema;
mod serde_attrs;
mod types;
mod yaml;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

/// Where the generated files go, relative to the workspace root.
pub(crate) const OUT_DIR: &str = "docs/rpc";

/// Generates the docs under `root`, or with `check`, compares them with
/// what is committed.
pub(crate) fn gen_docs(root: &Path, check: bool) -> Result<(), String> {
    eprintln!("reading the #[rpc_service] traits under {}", root.display());
    let (services, defs) = find::services(root)?;
    eprintln!("found {} #[rpc_service] trait(s)", services.len());
    if services.is_empty() {
        return Err(format!(
            "no #[rpc_service] trait found under {}",
            root.display()
        ));
    }
    let names: Vec<String> = services
        .iter()
        .map(|f| f.service.ident.to_string())
        .collect();
    let deployments = deploy::read(root, &names)?;
    for name in deployments.keys() {
        if !services.iter().any(|f| f.service.ident == name) {
            return Err(format!(
                "{}: [{name}] names no #[rpc_service] trait",
                deploy::FILE
            ));
        }
    }
    let mut files: BTreeMap<PathBuf, String> = BTreeMap::new();
    for found in &services {
        let name = found.service.ident.to_string();
        let Some(deployment) = deployments.get(&name) else {
            return Err(format!(
                "{}: `{name}` ({}) has no entry; add `[{name}]` with its `wire` and `exchange`",
                deploy::FILE,
                found.file
            ));
        };
        eprintln!("documenting {name} ({})", found.file);
        files.insert(
            format!("{name}.md").into(),
            markdown::page(found, deployment, &defs),
        );
        files.insert(
            format!("{name}.asyncapi.yaml").into(),
            asyncapi::document(found, deployment, &defs),
        );
    }
    files.insert("README.md".into(), markdown::index(&services, &deployments));

    let out = root.join(OUT_DIR);
    if check {
        return check_files(&out, &files);
    }
    fs::create_dir_all(&out).map_err(|e| format!("cannot create {}: {e}", out.display()))?;
    remove_stale(&out, &files)?;
    for (name, content) in &files {
        let path = out.join(name);
        fs::write(&path, content).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        println!("wrote {}", relative(root, &path));
    }
    Ok(())
}

fn check_files(out: &Path, files: &BTreeMap<PathBuf, String>) -> Result<(), String> {
    let mut stale = Vec::new();
    for (name, content) in files {
        let path = out.join(name);
        if fs::read_to_string(&path).ok().as_deref() != Some(content.as_str()) {
            stale.push(path.display().to_string());
        }
    }
    for extra in generated_files(out)? {
        if !files.contains_key(&extra) {
            stale.push(format!(
                "{} (no longer generated)",
                out.join(extra).display()
            ));
        }
    }
    if stale.is_empty() {
        println!("docs/rpc is up to date ({} files)", files.len());
        Ok(())
    } else {
        Err(format!(
            "the RPC docs are stale; run `cargo xtask gen-docs`:\n  {}",
            stale.join("\n  ")
        ))
    }
}

/// The files of `out` that this task writes (by name pattern).
fn generated_files(out: &Path) -> Result<Vec<PathBuf>, String> {
    let Ok(entries) = fs::read_dir(out) else {
        return Ok(Vec::new());
    };
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| e.to_string())?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.ends_with(".md") || name.ends_with(".asyncapi.yaml") {
            names.push(PathBuf::from(name));
        }
    }
    Ok(names)
}

fn remove_stale(out: &Path, files: &BTreeMap<PathBuf, String>) -> Result<(), String> {
    for name in generated_files(out)? {
        if !files.contains_key(&name) {
            let path = out.join(&name);
            fs::remove_file(&path).map_err(|e| format!("cannot remove {}: {e}", path.display()))?;
        }
    }
    Ok(())
}

fn relative(root: &Path, path: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .display()
        .to_string()
}
