// A generic service trait, with the client called: one error, the
// mistake's; the generated service and client add none.
use rpc_runtime::{rpc_service, Context, RpcError, Transport};

#[rpc_service(topic = "volume")]
pub trait VolumeManager<T> {
    async fn size(&self, ctx: &Context, id: u64) -> u32;
}

async fn call(transport: &Transport) -> Result<u32, RpcError> {
    let client = VolumeManagerClient::new(transport);
    client.size(&Context::new(), 7).await
}

fn main() {
    let _ = call;
}
