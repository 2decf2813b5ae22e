use rpc_runtime::{rpc_service, Context};

#[rpc_service(topic = "volume")]
pub trait VolumeManager {
    fn get_volume(&self, ctx: &Context, id: u64) -> Option<String>;
}

fn main() {}
