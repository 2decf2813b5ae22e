//! A volume service and a client calling it over RabbitMQ.
use std::time::Duration;

use rpc_runtime::{Context, RpcError, Server, Transport, rpc_service};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Volume {
    pub id: u64,
    pub name: String,
    pub size_gb: u32,
}

#[derive(Debug, thiserror::Error, Serialize, Deserialize)]
pub enum VolumeError {
    #[error("no room for {0} GB")]
    NoSpace(u32),
    #[error(transparent)]
    Rpc(#[from] RpcError),
}

/// Block storage.
#[rpc_service(topic = "volume")]
pub trait VolumeManager {
    /// Create a volume and return it once it exists.
    async fn create_volume(
        &self,
        ctx: &Context,
        name: String,
        size_gb: u32,
    ) -> Result<Volume, VolumeError>;
    /// Look a volume up.
    async fn get_volume(&self, ctx: &Context, id: u64) -> Option<Volume>;
    /// Delete a volume; nobody waits for the answer.
    #[rpc(cast)]
    async fn delete_volume(&self, ctx: &Context, id: u64);
}

struct Manager;

impl VolumeManager for Manager {
    async fn create_volume(
        &self,
        _ctx: &Context,
        name: String,
        size_gb: u32,
    ) -> Result<Volume, VolumeError> {
        if size_gb > 100 {
            return Err(VolumeError::NoSpace(size_gb));
        }
        Ok(Volume {
            id: 7,
            name,
            size_gb,
        })
    }
    async fn get_volume(&self, _ctx: &Context, id: u64) -> Option<Volume> {
        (id == 7).then(|| Volume {
            id,
            name: "db".into(),
            size_gb: 10,
        })
    }
    async fn delete_volume(&self, _ctx: &Context, id: u64) {
        println!("deleting {id}");
    }
}

#[tokio::main]
async fn main() -> Result<(), VolumeError> {
    tracing_subscriber::fmt::init();
    let transport = Transport::connect("amqp://guest:guest@127.0.0.1:5672/%2f").await?;
    let server = Server::builder(&transport, "host-1")
        .serve(VolumeManagerService::new(Manager))
        .start()
        .await?;
    let client = VolumeManagerClient::new(&transport).timeout(Duration::from_secs(5));
    let ctx = Context::new();
    let v = client.create_volume(&ctx, "db".into(), 10).await?;
    println!("created {v:?}");
    println!("get: {:?}", client.get_volume(&ctx, 7).await?);
    match client.create_volume(&ctx, "big".into(), 1000).await {
        Err(VolumeError::NoSpace(n)) => println!("no space for {n}"),
        other => println!("unexpected {other:?}"),
    }
    client.to_server("host-1").delete_volume(&ctx, 7).await?;
    client.fanout().delete_volume(&ctx, 8).await?;
    match client.to_server("host-9").get_volume(&ctx, 7).await {
        Err(e) => println!("host-9: {e}"),
        Ok(v) => println!("host-9 answered {v:?}"),
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    server.shutdown().await;
    Ok(())
}
