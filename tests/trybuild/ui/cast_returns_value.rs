use rpc_runtime::{rpc_service, Context};

#[rpc_service(topic = "volume")]
pub trait VolumeManager {
    #[rpc(cast)]
    async fn delete_volume(&self, ctx: &Context, id: u64) -> bool;
}

fn main() {}
