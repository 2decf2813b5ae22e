use rpc_runtime::{rpc_service, Context, Transport};

#[rpc_service(topic = "volume")]
pub trait VolumeManager {
    async fn get_volume(&self, ctx: &Context, id: u64) -> Option<String>;
    #[rpc(cast)]
    async fn delete_volume(&self, ctx: &Context, id: u64);
}

async fn demo(transport: &Transport) {
    let client = VolumeManagerClient::new(transport);
    let _ = client.fanout().get_volume(&Context::new(), 1).await;
}

fn main() {}
