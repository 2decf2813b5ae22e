use rpc_runtime::{rpc_service, Context};

#[rpc_service(topic = "volume", exchnage = "nova")]
pub trait VolumeManager {
    async fn get_volume(&self, ctx: &Context, id: u64) -> Option<String>;
}

fn main() {}
