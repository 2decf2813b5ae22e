//! The methods every server answers on each of its topics, without the
//! manager: `ping` (who serves, since when, how busy) and `describe` (the
//! service's methods). A trait method cannot take these names. Tools such as
//! `rpcctl` call them with JSON bodies.

use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::descriptor::{MethodKind, ServiceDescriptor};

/// The reserved name of the liveness method.
pub const PING: &str = "ping";
/// The reserved name of the introspection method.
pub const DESCRIBE: &str = "describe";

/// What a server answers to `ping`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PingReply {
    /// The server's name (oslo's `Target.server`).
    pub server: String,
    /// The machine it runs on.
    pub host: String,
    /// Its process id.
    pub pid: u32,
    /// Milliseconds since the server started.
    pub uptime_ms: u64,
    /// The topic that answered.
    pub topic: String,
    /// The service's trait name.
    pub service: String,
    /// The API version it speaks.
    pub version: String,
    /// Requests being handled right now.
    pub in_flight: usize,
}

/// What a server answers to `describe`: its service's descriptor, owned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceDescription {
    /// The trait's name.
    pub name: String,
    /// The default topic.
    pub topic: String,
    /// The API version.
    pub version: String,
    /// The namespace requests must name, if any.
    #[serde(default)]
    pub namespace: Option<String>,
    /// The trait's doc comment.
    pub docs: String,
    /// The methods.
    pub methods: Vec<MethodDescription>,
}

/// One method of a [`ServiceDescription`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MethodDescription {
    /// The method's name.
    pub name: String,
    /// `"call"` or `"cast"`.
    pub kind: String,
    /// The version that introduced it.
    pub since: Option<String>,
    /// `(name, type)` of each argument after the context.
    pub args: Vec<(String, String)>,
    /// The success type.
    pub returns: String,
    /// The manager's error type, if any.
    pub error: Option<String>,
    /// The doc comment.
    pub docs: String,
}

impl From<&ServiceDescriptor> for ServiceDescription {
    fn from(service: &ServiceDescriptor) -> Self {
        Self {
            name: service.name.to_owned(),
            topic: service.topic.to_owned(),
            version: service.version.to_owned(),
            namespace: service.namespace.map(str::to_owned),
            docs: service.docs.to_owned(),
            methods: service
                .methods
                .iter()
                .map(|m| MethodDescription {
                    name: m.name.to_owned(),
                    kind: match m.kind {
                        MethodKind::Call => "call",
                        MethodKind::Cast => "cast",
                    }
                    .to_owned(),
                    since: m.since.map(str::to_owned),
                    args: m
                        .args
                        .iter()
                        .map(|a| (a.name.to_owned(), a.ty.to_owned()))
                        .collect(),
                    returns: m.returns.to_owned(),
                    error: m.error.map(str::to_owned),
                    docs: m.docs.to_owned(),
                })
                .collect(),
        }
    }
}

/// What a server knows about itself, for `ping`.
#[derive(Debug, Clone)]
pub(crate) struct ServerFacts {
    pub(crate) name: String,
    pub(crate) started: Instant,
    pub(crate) in_flight: usize,
}

impl ServerFacts {
    pub(crate) fn ping(&self, topic: &str, service: &ServiceDescriptor) -> PingReply {
        PingReply {
            server: self.name.clone(),
            host: host_name(),
            pid: std::process::id(),
            uptime_ms: u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX),
            topic: topic.to_owned(),
            service: service.name.to_owned(),
            version: service.version.to_owned(),
            in_flight: self.in_flight,
        }
    }
}

fn host_name() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok())
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown".to_owned())
}
