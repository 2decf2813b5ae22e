//! The mini-cloud's RPC APIs: what oslo.messaging users keep in `rpcapi.py`
//! and `manager.py`, here one trait per service.

use rpc_runtime::{Context, RpcError, RpcStream, rpc_service};
use serde::{Deserialize, Serialize};

/// A volume as a volume host keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Volume {
    pub id: u64,
    pub name: String,
    pub size_gb: u32,
    pub host: String,
}

/// The payload of `volume.create.start` and `volume.create.end`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeUsage {
    pub volume_id: u64,
    pub name: String,
    pub size_gb: u32,
    pub host: String,
}

/// What a volume host reported last.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostState {
    pub host: String,
    pub free_gb: u32,
}

/// The scheduler's own error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
pub enum SchedulerError {
    #[error("no volume host has {size_gb} GB free")]
    NoValidHost { size_gb: u32 },
    #[error(transparent)]
    Rpc(#[from] RpcError),
}

/// Places volumes on hosts, from the capacities the hosts report.
#[rpc_service(topic = "scheduler", version = "1.0")]
pub trait SchedulerManager {
    /// Picks the host with the most free space for a volume of `size_gb`
    /// and reserves the space there.
    async fn select_host(&self, ctx: &Context, size_gb: u32) -> Result<String, SchedulerError>;
    /// The hosts known so far, with their free space.
    async fn hosts(&self, ctx: &Context) -> Vec<HostState>;
    /// The hosts whose latest report answered request `request_id` (a host
    /// reports with the context it was asked with).
    async fn reported(&self, ctx: &Context, request_id: String) -> Vec<String>;
    /// A volume host reports its free space.
    #[rpc(cast)]
    async fn update_capabilities(&self, ctx: &Context, host: String, free_gb: u32);
}

/// One volume host: stores volumes and reports its capacity.
#[rpc_service(topic = "volume", version = "1.0")]
pub trait VolumeManager {
    /// Creates a volume on this host (sent to `volume.<host>`).
    #[rpc(cast)]
    async fn create_volume(&self, ctx: &Context, volume_id: u64, name: String, size_gb: u32);
    /// Deletes a volume from this host.
    #[rpc(cast)]
    async fn delete_volume(&self, ctx: &Context, volume_id: u64);
    /// Reports this host's free space to the scheduler (sent to every host).
    #[rpc(cast)]
    async fn refresh_capabilities(&self, ctx: &Context);
    /// The volumes on this host.
    async fn list_volumes(&self, ctx: &Context) -> Vec<Volume>;
    /// The volumes on this host, streamed one by one (however many there
    /// are, no reply grows with them).
    async fn stream_volumes(&self, ctx: &Context) -> RpcStream<Volume, RpcError>;
}
