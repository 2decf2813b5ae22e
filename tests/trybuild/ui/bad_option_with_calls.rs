// A mistake in a method's `#[rpc(...)]`, with calls of it (on the client and
// the fanout handle) and of another method: one error, the mistake's.
use rpc_runtime::{rpc_service, Context, RpcError, Transport};

#[rpc_service(topic = "volume")]
pub trait VolumeManager {
    #[rpc(cast, sinse = "1.0")]
    async fn forget(&self, ctx: &Context, id: u64);
    async fn size(&self, ctx: &Context, id: u64) -> u32;
}

async fn call(transport: &Transport) -> Result<u32, RpcError> {
    let client = VolumeManagerClient::new(transport);
    let ctx = Context::new();
    client.forget(&ctx, 7).await?;
    client.fanout().forget(&ctx, 7).await?;
    client.size(&ctx, 7).await
}

fn main() {
    let _ = call;
}
