//! How each service is deployed, read from `docs/deployments.toml`: the
//! wire it speaks, the control exchange it is on, and the notifications it
//! emits. The trait alone cannot say (a transport's URL chooses them), so
//! the docs take them from this file and refuse to guess.
//!
//! ```toml
//! [VolumeManager]
//! wire = "native"                 # or "oslo"
//! exchange = "openstack"          # the control exchange
//! runs = "cargo run --example mini-cloud -- --role volume"
//!
//! [[VolumeManager.notifications]]
//! event_type = "volume.create.end"
//! publisher_id = "volume.<host>"
//! payload = "VolumeUsage"         # a serde type of the service's file
//! ```

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

/// Where the file is, relative to the workspace root.
pub(crate) const FILE: &str = "docs/deployments.toml";

/// The wire a deployment speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum WireKind {
    Native,
    Oslo,
}

/// One service's deployment.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Deployment {
    pub(crate) wire: WireKind,
    pub(crate) exchange: String,
    /// How it is started, for the reader.
    #[serde(default)]
    pub(crate) runs: Option<String>,
    #[serde(default)]
    pub(crate) notifications: Vec<Notification>,
}

/// A notification a service emits.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Notification {
    pub(crate) event_type: String,
    pub(crate) publisher_id: String,
    /// The payload's Rust type.
    pub(crate) payload: String,
    /// `info` unless given.
    #[serde(default = "info")]
    pub(crate) priority: String,
    /// The notification topic (`notifications` unless given).
    #[serde(default = "notifications")]
    pub(crate) topic: String,
}

fn info() -> String {
    "info".to_owned()
}

fn notifications() -> String {
    "notifications".to_owned()
}

const PRIORITIES: &[&str] = &[
    "audit", "debug", "info", "warn", "error", "critical", "sample",
];

/// Every deployment, by trait name. `services` names the traits found, for
/// the file to write when there is none.
pub(crate) fn read(
    root: &Path,
    services: &[String],
) -> Result<BTreeMap<String, Deployment>, String> {
    let path = root.join(FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(missing(&path, services));
        }
        Err(e) => return Err(format!("{}: {e}", path.display())),
    };
    let deployments: BTreeMap<String, Deployment> =
        toml::from_str(&text).map_err(|e| format!("{FILE}: {e}"))?;
    for (service, deployment) in &deployments {
        for n in &deployment.notifications {
            if !PRIORITIES.contains(&n.priority.as_str()) {
                return Err(format!(
                    "{FILE}: [{service}] notification `{}` has priority `{}`; one of {} expected",
                    n.event_type,
                    n.priority,
                    PRIORITIES.join(", ")
                ));
            }
        }
    }
    Ok(deployments)
}

/// What to write when the file is missing: one entry per service found.
fn missing(path: &Path, services: &[String]) -> String {
    let mut text = format!(
        "{} does not exist. It says how each service is deployed (a trait alone \
         cannot say which wire and control exchange its transport uses). \
         Write it with an entry per service, for example:\n",
        path.display()
    );
    for name in services {
        text.push_str(&format!(
            "\n[{name}]\nwire = \"native\"        # or \"oslo\" for a rabbit:// transport\n\
             exchange = \"openstack\"  # the control exchange\n"
        ));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_deployment_and_refuses_typos() {
        let parsed: BTreeMap<String, Deployment> = toml::from_str(
            "[Svc]\nwire = \"oslo\"\nexchange = \"nova\"\n[[Svc.notifications]]\nevent_type = \"a.b\"\npublisher_id = \"svc.h\"\npayload = \"P\"\n",
        )
        .unwrap();
        let svc = &parsed["Svc"];
        assert_eq!(svc.wire, WireKind::Oslo);
        assert_eq!(svc.notifications[0].priority, "info");
        assert_eq!(svc.notifications[0].topic, "notifications");
        let typo = toml::from_str::<BTreeMap<String, Deployment>>(
            "[Svc]\nwire = \"native\"\nexchnage = \"x\"\n",
        );
        assert!(typo.is_err());
    }
}
