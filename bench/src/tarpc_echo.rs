//! tarpc's in-process channel transport with the same echo service.

use futures::StreamExt;
use tarpc::server::{BaseChannel, Channel};

/// The echo service, tarpc's way.
#[tarpc::service]
pub trait World {
    /// Returns its payload.
    async fn echo(payload: String) -> String;
}

#[derive(Clone)]
struct EchoServer;

impl World for EchoServer {
    async fn echo(self, _: tarpc::context::Context, payload: String) -> String {
        payload
    }
}

/// A client connected to a server through an in-process channel.
pub fn client() -> WorldClient {
    let (client_transport, server_transport) = tarpc::transport::channel::unbounded();
    let server = BaseChannel::with_defaults(server_transport);
    tokio::spawn(
        server
            .execute(EchoServer.serve())
            .for_each(|response| async move {
                tokio::spawn(response);
            }),
    );
    WorldClient::new(tarpc::client::Config::default(), client_transport).spawn()
}
