// One mistake in one method (an argument that cannot be sent), with the
// manager implemented, the service served and both methods called: the one
// error is the mistake's, on its own tokens; no call site adds another.
use rpc_runtime::{rpc_service, Context, RpcError, Server, Transport};

#[rpc_service(topic = "volume")]
pub trait VolumeManager {
    async fn rename(&self, ctx: &Context, id: u64, name: &str) -> Result<(), RpcError>;
    async fn size(&self, ctx: &Context, id: u64) -> u32;
    #[rpc(cast)]
    async fn forget(&self, ctx: &Context, id: u64);
}

struct Manager;

impl VolumeManager for Manager {
    async fn rename(&self, _ctx: &Context, _id: u64, _name: &str) -> Result<(), RpcError> {
        Ok(())
    }
    async fn size(&self, _ctx: &Context, id: u64) -> u32 {
        id as u32
    }
    async fn forget(&self, _ctx: &Context, _id: u64) {}
}

async fn serve(transport: &Transport) -> Result<(), RpcError> {
    let _server = Server::builder(transport, "host-1")
        .serve(VolumeManagerService::new(Manager))
        .start()
        .await?;
    Ok(())
}

async fn call(transport: &Transport) -> Result<u32, RpcError> {
    let client = VolumeManagerClient::new(transport);
    let ctx = Context::new();
    client.rename(&ctx, 7, "data").await?;
    client.to_server("host-1").rename(&ctx, 8, "logs").await?;
    client.fanout().forget(&ctx, 7).await?;
    client.size(&ctx, 7).await
}

fn main() {
    let _ = (serve, call);
}
