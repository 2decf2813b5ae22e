// A method named like one the runtime answers itself (`ping`), implemented
// and called: one error, the name's; the call adds none.
use rpc_runtime::{rpc_service, Context, RpcError, Transport};

#[rpc_service(topic = "volume")]
pub trait VolumeManager {
    async fn ping(&self, ctx: &Context) -> String;
    async fn size(&self, ctx: &Context, id: u64) -> u32;
}

struct Manager;

impl VolumeManager for Manager {
    async fn ping(&self, _ctx: &Context) -> String {
        "pong".into()
    }
    async fn size(&self, _ctx: &Context, id: u64) -> u32 {
        id as u32
    }
}

async fn call(transport: &Transport) -> Result<u32, RpcError> {
    let client = VolumeManagerClient::new(transport);
    let ctx = Context::new();
    let _pong = client.ping(&ctx).await?;
    client.size(&ctx, 7).await
}

fn main() {
    let _ = (call, Manager);
}
