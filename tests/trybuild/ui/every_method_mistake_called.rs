// Each kind of mistake in a method, each method implemented and called the
// way its signature reads: one error per mistake, none from the calls.
use rpc_runtime::{rpc_service, Context, RpcError, Transport};

#[rpc_service(topic = "volume")]
pub trait VolumeManager {
    fn not_async(&self, ctx: &Context) -> u32;
    async fn no_context(&self, size: u32) -> u32;
    async fn mut_self(&mut self, ctx: &Context) -> u32;
    async fn generic<T: Send>(&self, ctx: &Context, id: T) -> u32;
    async fn borrowed(&self, ctx: &Context) -> &str;
    async fn opaque(&self, ctx: &Context, name: impl Into<String> + Send) -> u32;
    async fn pattern(&self, ctx: &Context, (a, b): (u32, u32)) -> u32;
    async fn mutable(&self, ctx: &Context, mut id: u64) -> u32;
    #[rpc(cast)]
    async fn cast_with_value(&self, ctx: &Context, id: u64) -> bool;
}

struct Manager;

impl VolumeManager for Manager {
    fn not_async(&self, _ctx: &Context) -> u32 {
        1
    }
    async fn no_context(&self, size: u32) -> u32 {
        size
    }
    async fn mut_self(&mut self, _ctx: &Context) -> u32 {
        2
    }
    async fn generic<T: Send>(&self, _ctx: &Context, _id: T) -> u32 {
        3
    }
    async fn borrowed(&self, _ctx: &Context) -> &str {
        "four"
    }
    async fn opaque(&self, _ctx: &Context, _name: impl Into<String> + Send) -> u32 {
        5
    }
    async fn pattern(&self, _ctx: &Context, (a, b): (u32, u32)) -> u32 {
        a + b
    }
    async fn mutable(&self, _ctx: &Context, mut id: u64) -> u32 {
        id += 1;
        id as u32
    }
    async fn cast_with_value(&self, _ctx: &Context, _id: u64) -> bool {
        true
    }
}

async fn call(transport: &Transport) -> Result<u32, RpcError> {
    let client = VolumeManagerClient::new(transport);
    let ctx = Context::new();
    let a = client.not_async(&ctx).await?;
    let b = client.no_context(7).await?;
    let c = client.mut_self(&ctx).await?;
    let d = client.generic(&ctx, 7_u64).await?;
    let e = client.borrowed(&ctx).await?.len() as u32;
    let f = client.opaque(&ctx, "six").await?;
    let g = client.pattern(&ctx, (3, 4)).await?;
    let h = client.mutable(&ctx, 8).await?;
    client.cast_with_value(&ctx, 8).await?;
    client.fanout().cast_with_value(&ctx, 8).await?;
    Ok(a + b + c + d + e + f + g + h)
}

fn main() {
    let _ = call;
}
