// A stream through the fanout handle: one error, which says what to write instead.
use rpc_runtime::{rpc_service, Context, RpcError, RpcStream, Transport};

#[rpc_service(topic = "pets")]
pub trait PetStore {
    async fn watch(&self, ctx: &Context, kind: String) -> RpcStream<String, RpcError>;
}

async fn demo(transport: &Transport) -> Result<(), RpcError> {
    let client = PetStoreClient::new(transport);
    let _stream = client.fanout().watch(&Context::new(), "cat".into()).await;
    Ok(())
}

fn main() {
    let _ = demo;
}
