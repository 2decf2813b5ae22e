// A call through the fanout handle, named like a method of a common trait
// (`Iterator::count`): one error, which says what to write instead.
use rpc_runtime::{rpc_service, Context, RpcError, Transport};

#[rpc_service(topic = "pets")]
pub trait PetStore {
    async fn count(&self, ctx: &Context) -> u32;
    #[rpc(cast)]
    async fn feed(&self, ctx: &Context, name: String);
}

async fn demo(transport: &Transport) -> Result<u32, RpcError> {
    let client = PetStoreClient::new(transport);
    let ctx = Context::new();
    client.fanout().feed(&ctx, "rex".into()).await?;
    client.fanout().count(&ctx).await
}

fn main() {
    let _ = demo;
}
