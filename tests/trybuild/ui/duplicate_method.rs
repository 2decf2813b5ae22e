use rpc_runtime::{rpc_service, Context};

#[rpc_service(topic = "volume")]
pub trait VolumeManager {
    async fn get_volume(&self, ctx: &Context, id: u64) -> Option<String>;
    async fn get_volume(&self, ctx: &Context, name: String) -> Option<String>;
}

fn main() {}
