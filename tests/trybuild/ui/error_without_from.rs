use rpc_runtime::{rpc_service, Context};
use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize, Deserialize)]
pub enum VolumeError {
    NotFound,
}

impl std::fmt::Display for VolumeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("not found")
    }
}

impl std::error::Error for VolumeError {}

#[rpc_service(topic = "volume")]
pub trait VolumeManager {
    async fn get_volume(&self, ctx: &Context, id: u64) -> Result<String, VolumeError>;
}

fn main() {}
