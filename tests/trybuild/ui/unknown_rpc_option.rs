use rpc_runtime::{rpc_service, Context};

#[rpc_service(topic = "volume")]
pub trait VolumeManager {
    #[rpc(fanout)]
    async fn delete_volume(&self, ctx: &Context, id: u64);
}

fn main() {}
