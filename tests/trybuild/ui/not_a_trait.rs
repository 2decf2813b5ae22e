use rpc_runtime::rpc_service;

#[rpc_service(topic = "volume")]
pub struct VolumeManager;

fn main() {}
