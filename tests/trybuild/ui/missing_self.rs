use rpc_runtime::{rpc_service, Context};

#[rpc_service(topic = "volume")]
pub trait VolumeManager {
    async fn get_volume(ctx: &Context, id: u64) -> Option<String>;
}

fn main() {}
