//! Finds the `#[rpc_service]` traits of the workspace.
//!
//! Every `.rs` file is read except under `target/`, hidden folders,
//! `tests/` (test fixtures and the compile-fail cases, which are broken on
//! purpose), `bench/` and `fuzz/` (tooling). A trait the parser refuses is an error: the build would refuse
//! it too. The same walk collects the serde types the services use.

use std::fs;
use std::path::{Path, PathBuf};

use rpc_model::Service;

use super::types::TypeDefs;

/// A service and the file it was found in.
#[derive(Debug)]
pub(crate) struct Found {
    pub(crate) service: Service,
    /// The file, relative to the workspace root, with `/` separators.
    pub(crate) file: String,
}

/// Every service under `root`, sorted by trait name, and the serde types
/// defined there.
pub(crate) fn services(root: &Path) -> Result<(Vec<Found>, TypeDefs), String> {
    let mut files = Vec::new();
    walk(root, root, &mut files)?;
    files.sort();
    let mut found = Vec::new();
    let mut defs = TypeDefs::default();
    for path in files {
        let text = fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let has_service = text.contains("rpc_service");
        if !has_service && !text.contains("Serialize") && !text.contains("Deserialize") {
            continue;
        }
        let file = path
            .strip_prefix(root)
            .unwrap_or(&path)
            .components()
            .map(|c| c.as_os_str().to_string_lossy())
            .collect::<Vec<_>>()
            .join("/");
        let parsed = match syn::parse_file(&text) {
            Ok(parsed) => parsed,
            Err(e) if has_service => return Err(format!("{file}: {e}")),
            Err(_) => continue,
        };
        defs.add_file(&file, &parsed);
        if !has_service {
            continue;
        }
        for service in rpc_model::services_in_file(&parsed) {
            let service = service.map_err(|e| format!("{file}: {e}"))?;
            found.push(Found {
                service,
                file: file.clone(),
            });
        }
    }
    found.sort_by_key(|f| f.service.ident.to_string());
    for pair in found.windows(2) {
        if pair[0].service.ident == pair[1].service.ident {
            return Err(format!(
                "two services are named `{}` ({} and {}): their pages would collide",
                pair[0].service.ident, pair[0].file, pair[1].file
            ));
        }
    }
    Ok((found, defs))
}

fn walk(root: &Path, dir: &Path, files: &mut Vec<PathBuf>) -> Result<(), String> {
    let entries = fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    for entry in entries {
        let entry = entry.map_err(|e| e.to_string())?;
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        let file_type = entry.file_type().map_err(|e| e.to_string())?;
        if file_type.is_dir() {
            let skipped = name.starts_with('.')
                || name == "target"
                || name == "node_modules"
                || (dir == root && matches!(name.as_str(), "tests" | "bench" | "fuzz"));
            if !skipped {
                walk(root, &path, files)?;
            }
        } else if name.ends_with(".rs") {
            files.push(path);
        }
    }
    Ok(())
}
