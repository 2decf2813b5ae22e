// Two mistakes in one trait: each is reported once, on its own tokens, and
// the code using the client and the service adds no error of its own.
use rpc_runtime::{rpc_service, Context, Server, Transport};

#[rpc_service(topic = "volume")]
pub trait VolumeManager {
    fn not_async(&self, ctx: &Context) -> u32;
    async fn no_context(&self, size: u32) -> u32;
    async fn size(&self, ctx: &Context, id: u64) -> u32;
}

struct Manager;

impl VolumeManager for Manager {
    fn not_async(&self, _ctx: &Context) -> u32 {
        1
    }
    async fn no_context(&self, size: u32) -> u32 {
        size
    }
    async fn size(&self, _ctx: &Context, id: u64) -> u32 {
        id as u32
    }
}

async fn run(transport: &Transport) -> Result<u32, rpc_runtime::RpcError> {
    let _server = Server::builder(transport, "host-1")
        .serve(VolumeManagerService::new(Manager))
        .start()
        .await?;
    let client = VolumeManagerClient::new(transport).to_server("host-1");
    client.size(&Context::new(), 7).await
}

fn main() {
    let _ = run;
}
