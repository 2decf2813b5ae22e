//! The part of nova's compute RPC API that the `nova-compute` example
//! answers in Rust, over oslo.messaging's wire format: nova's own Python
//! `compute/rpcapi.py` calls it unchanged.

use rpc_runtime::{Context, rpc_service};
use serde::{Deserialize, Serialize};

/// The part of nova's compute RPC API this service answers.
#[rpc_service(topic = "compute", version = "6.2")]
pub trait ComputeManager {
    /// `ComputeAPI.get_host_uptime(ctxt, host)`: a call to `compute.<host>`.
    async fn get_host_uptime(&self, ctx: &Context) -> String;
    /// `ComputeAPI.refresh_instance_security_rules(ctxt, instance, host)`: a
    /// cast; `instance` is a versioned object's primitive, plain JSON here.
    #[rpc(cast)]
    async fn refresh_instance_security_rules(&self, ctx: &Context, instance: serde_json::Value);
}

/// The payload of `compute.security_rules.refreshed`.
#[derive(Debug, Serialize, Deserialize)]
pub struct RulesRefreshed {
    /// The instance whose rules were refreshed.
    pub instance_uuid: String,
    /// The compute host that refreshed them.
    pub host: String,
}
