use rpc_runtime::{rpc_service, Context};

#[rpc_service(topic = "volume")]
pub trait VolumeManager {
    async fn timeout(&self, ctx: &Context, seconds: u64);
}

fn main() {}
