use rpc_runtime::{rpc_service, Context};

#[rpc_service]
pub trait VolumeManager {
    async fn get_volume(&self, ctx: &Context, id: u64) -> Option<String>;
}

fn main() {}
