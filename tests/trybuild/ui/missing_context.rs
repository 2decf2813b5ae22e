use rpc_runtime::rpc_service;

#[rpc_service(topic = "volume")]
pub trait VolumeManager {
    async fn get_volume(&self, id: u64) -> Option<String>;
}

fn main() {}
