use rpc_runtime::{rpc_service, Context};

#[rpc_service(topic = "volume")]
pub trait VolumeManager {
    async fn get_volume<T>(&self, ctx: &Context, id: T) -> Option<String>;
}

fn main() {}
