use rpc_runtime::{rpc_service, Context};

#[rpc_service(topic = "volume")]
pub trait VolumeManager {
    async fn get_volume(&mut self, ctx: &Context, id: u64) -> Option<String>;
}

fn main() {}
