use rpc_runtime::{rpc_service, Context};

#[rpc_service(topic = "volume")]
pub trait VolumeManager {
    async fn create_volume(&self, ctx: &Context, name: &str) -> u64;
}

fn main() {}
