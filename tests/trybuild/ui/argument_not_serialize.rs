use rpc_runtime::{rpc_service, Context};

#[derive(serde::Deserialize)]
pub struct Spec {
    pub size_gb: u32,
}

#[rpc_service(topic = "volume")]
pub trait VolumeManager {
    async fn create_volume(&self, ctx: &Context, spec: Spec) -> u64;
}

fn main() {}
