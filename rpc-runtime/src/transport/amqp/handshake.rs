//! Asks a broker why it will not open a connection.
//!
//! RabbitMQ tells a client that its login was refused only if the client
//! says it wants to know (the `authentication_failure_close` capability);
//! otherwise it waits 3 s and drops the socket, which amqprs (whose client
//! properties are fixed) reports as "connection reset by peer". So when a
//! connection fails, or is slow to open, this module runs the AMQP 0-9-1
//! opening handshake itself, up to `connection.open`, asking to be told,
//! then closes: a refused user or password becomes
//! [`RpcError::Authentication`], a refused vhost
//! [`RpcError::VhostRefused`]. Everything it reads is untrusted: frames are
//! size-checked, and any surprise means "nothing to add".

use std::time::Duration;

use tokio_rustls::TlsConnector;

use super::config::AmqpConfig;
use super::endpoint::Endpoint;
use super::raw::{self, Opening};
use crate::error::RpcError;

/// Runs the handshake against `endpoint` (through `tls` when given) within
/// `limit`; `Err` only when the broker refused the login or the vhost.
pub(super) async fn check(
    config: &AmqpConfig,
    endpoint: &Endpoint,
    tls: Option<&(TlsConnector, String)>,
    limit: Duration,
) -> Result<(), RpcError> {
    let outcome = tokio::time::timeout(limit, handshake(config, endpoint, tls))
        .await
        .unwrap_or(Ok(Opening::Unclear))
        .unwrap_or(Opening::Unclear);
    match outcome {
        Opening::LoginRefused(detail) => Err(RpcError::Authentication {
            broker: format!("{}:{}", endpoint.host(), endpoint.port()),
            user: endpoint.username().to_owned(),
            detail,
        }),
        Opening::VhostRefused(detail) => Err(RpcError::VhostRefused {
            broker: format!("{}:{}", endpoint.host(), endpoint.port()),
            vhost: config.vhost().to_owned(),
            user: endpoint.username().to_owned(),
            detail,
        }),
        Opening::Open | Opening::Unclear => Ok(()),
    }
}

async fn handshake(
    config: &AmqpConfig,
    endpoint: &Endpoint,
    tls: Option<&(TlsConnector, String)>,
) -> std::io::Result<Opening> {
    let mut stream = raw::connect(endpoint, tls).await?;
    let capabilities = ["authentication_failure_close"];
    let opening = raw::open(
        &mut *stream,
        config,
        endpoint,
        "rpc-runtime connection check",
        &capabilities,
    )
    .await?;
    if opening == Opening::Open {
        raw::close(&mut *stream).await;
    }
    Ok(opening)
}
