//! A user's own binary, built outside the workspace by `.ci/downstream.sh`:
//! one trait, a server and a call over the broker at 127.0.0.1:5672, and the
//! runtime's logs on stderr through `rpc_runtime::logging::init()`.

use rpc_runtime::{Context, RpcError, Server, Transport, rpc_service};
use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize, Deserialize)]
pub struct Greeting {
    pub text: String,
}

#[derive(Debug, thiserror::Error, Serialize, Deserialize)]
pub enum GreetError {
    #[error("nobody to greet")]
    Empty,
    #[error(transparent)]
    Rpc(#[from] RpcError),
}

#[rpc_service(topic = "downstream_greeter")]
pub trait Greeter {
    /// Greets `name`.
    async fn greet(&self, ctx: &Context, name: String) -> Result<Greeting, GreetError>;
    /// Forgets `name`; nobody waits.
    #[rpc(cast)]
    async fn forget(&self, ctx: &Context, name: String);
}

struct Manager;

impl Greeter for Manager {
    async fn greet(&self, _ctx: &Context, name: String) -> Result<Greeting, GreetError> {
        if name.is_empty() {
            return Err(GreetError::Empty);
        }
        Ok(Greeting {
            text: format!("hello, {name}"),
        })
    }

    async fn forget(&self, _ctx: &Context, _name: String) {}
}

#[tokio::main]
async fn main() -> Result<(), GreetError> {
    rpc_runtime::logging::init();
    let transport = Transport::connect("amqp://guest:guest@127.0.0.1:5672/%2f").await?;
    let server = Server::builder(&transport, "downstream-1")
        .serve(GreeterService::new(Manager))
        .start()
        .await?;
    let client = GreeterClient::new(&transport);
    let greeting = client.greet(&Context::new(), "world".into()).await?;
    println!("{}", greeting.text);
    server.shutdown().await;
    transport.close().await;
    Ok(())
}
