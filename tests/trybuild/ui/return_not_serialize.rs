use rpc_runtime::{rpc_service, Context};

#[derive(serde::Serialize)]
pub struct Volume {
    pub id: u64,
}

#[rpc_service(topic = "volume")]
pub trait VolumeManager {
    async fn get_volume(&self, ctx: &Context, id: u64) -> Volume;
}

fn main() {}
