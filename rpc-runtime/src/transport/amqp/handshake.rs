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

use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use super::config::AmqpConfig;
use super::endpoint::Endpoint;
use crate::error::RpcError;

/// The largest frame the check reads (connection.start carries the
/// broker's properties: a few kilobytes).
const MAX_FRAME: u32 = 128 * 1024;

const FRAME_METHOD: u8 = 1;
const FRAME_END: u8 = 0xCE;
const CONNECTION: u16 = 10;
const START: u16 = 10;
const START_OK: u16 = 11;
const TUNE: u16 = 30;
const TUNE_OK: u16 = 31;
const OPEN: u16 = 40;
const OPEN_OK: u16 = 41;
const CLOSE: u16 = 50;

/// Where the handshake stopped.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    /// The broker would open the connection.
    Accepted,
    /// The broker refused the login (user name or password).
    LoginRefused(String),
    /// The broker refused the vhost (missing, or no permission).
    VhostRefused(String),
    /// The handshake ended some other way (nothing to explain).
    Unclear,
}

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
        .unwrap_or(Ok(Outcome::Unclear))
        .unwrap_or(Outcome::Unclear);
    match outcome {
        Outcome::LoginRefused(detail) => Err(RpcError::Authentication {
            broker: format!("{}:{}", endpoint.host(), endpoint.port()),
            user: endpoint.username().to_owned(),
            detail,
        }),
        Outcome::VhostRefused(detail) => Err(RpcError::VhostRefused {
            broker: format!("{}:{}", endpoint.host(), endpoint.port()),
            vhost: config.vhost().to_owned(),
            user: endpoint.username().to_owned(),
            detail,
        }),
        Outcome::Accepted | Outcome::Unclear => Ok(()),
    }
}

async fn handshake(
    config: &AmqpConfig,
    endpoint: &Endpoint,
    tls: Option<&(TlsConnector, String)>,
) -> std::io::Result<Outcome> {
    let tcp = TcpStream::connect((endpoint.host(), endpoint.port())).await?;
    match tls {
        None => converse(tcp, config, endpoint).await,
        Some((connector, name)) => {
            let name = ServerName::try_from(name.clone())
                .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
            let stream = connector.connect(name, tcp).await?;
            converse(stream, config, endpoint).await
        }
    }
}

async fn converse<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    config: &AmqpConfig,
    endpoint: &Endpoint,
) -> std::io::Result<Outcome> {
    stream.write_all(b"AMQP\x00\x00\x09\x01").await?;
    if read_method(&mut stream).await?.0 != (CONNECTION, START) {
        return Ok(Outcome::Unclear);
    }
    stream.write_all(&start_ok(endpoint)).await?;
    let (method, args) = read_method(&mut stream).await?;
    let tune = match method {
        (CONNECTION, TUNE) if args.len() >= 8 => args,
        (CONNECTION, CLOSE) => return Ok(Outcome::LoginRefused(close_reason(&args))),
        _ => return Ok(Outcome::Unclear),
    };
    // Accept the broker's limits, no heartbeats, then open the vhost.
    let mut tune_ok = tune[..6].to_vec();
    tune_ok.extend_from_slice(&[0, 0]);
    stream.write_all(&method_frame(TUNE_OK, &tune_ok)).await?;
    let mut open = Vec::new();
    short_str(&mut open, config.vhost());
    open.extend_from_slice(&[0, 0]);
    stream.write_all(&method_frame(OPEN, &open)).await?;
    let (method, args) = read_method(&mut stream).await?;
    let outcome = match method {
        (CONNECTION, OPEN_OK) => Outcome::Accepted,
        (CONNECTION, CLOSE) => Outcome::VhostRefused(close_reason(&args)),
        _ => Outcome::Unclear,
    };
    if outcome == Outcome::Accepted {
        let mut close = 200u16.to_be_bytes().to_vec();
        short_str(&mut close, "");
        close.extend_from_slice(&[0, 0, 0, 0]);
        let _ = stream.write_all(&method_frame(CLOSE, &close)).await;
    }
    Ok(outcome)
}

/// connection.start-ok: PLAIN login, asking to be told of a refusal.
fn start_ok(endpoint: &Endpoint) -> Vec<u8> {
    let mut capabilities = Vec::new();
    short_str(&mut capabilities, "authentication_failure_close");
    capabilities.extend_from_slice(b"t\x01");
    let mut properties = Vec::new();
    short_str(&mut properties, "capabilities");
    properties.push(b'F');
    long_bytes(&mut properties, &capabilities);
    short_str(&mut properties, "product");
    properties.push(b'S');
    long_bytes(&mut properties, b"rpc-runtime connection check");
    let mut args = Vec::new();
    long_bytes(&mut args, &properties);
    short_str(&mut args, "PLAIN");
    let mut response = vec![0];
    response.extend_from_slice(endpoint.username().as_bytes());
    response.push(0);
    response.extend_from_slice(endpoint.password().expose().as_bytes());
    long_bytes(&mut args, &response);
    short_str(&mut args, "en_US");
    method_frame(START_OK, &args)
}

fn method_frame(method: u16, args: &[u8]) -> Vec<u8> {
    let mut payload = CONNECTION.to_be_bytes().to_vec();
    payload.extend_from_slice(&method.to_be_bytes());
    payload.extend_from_slice(args);
    let mut frame = vec![FRAME_METHOD, 0, 0];
    long_bytes(&mut frame, &payload);
    frame.push(FRAME_END);
    frame
}

fn short_str(out: &mut Vec<u8>, value: &str) {
    let bytes = &value.as_bytes()[..value.len().min(255)];
    out.push(bytes.len() as u8);
    out.extend_from_slice(bytes);
}

fn long_bytes(out: &mut Vec<u8>, value: &[u8]) {
    out.extend_from_slice(&u32::try_from(value.len()).unwrap_or(u32::MAX).to_be_bytes());
    out.extend_from_slice(value);
}

/// Reads one frame on channel 0 and returns its method and arguments.
async fn read_method<S: AsyncRead + Unpin>(
    stream: &mut S,
) -> std::io::Result<((u16, u16), Vec<u8>)> {
    let mut header = [0u8; 7];
    stream.read_exact(&mut header).await?;
    let size = u32::from_be_bytes([header[3], header[4], header[5], header[6]]);
    if header[0] != FRAME_METHOD || !(4..=MAX_FRAME).contains(&size) {
        return Err(std::io::ErrorKind::InvalidData.into());
    }
    let mut payload = vec![0u8; size as usize + 1];
    stream.read_exact(&mut payload).await?;
    if payload.pop() != Some(FRAME_END) {
        return Err(std::io::ErrorKind::InvalidData.into());
    }
    let class = u16::from_be_bytes([payload[0], payload[1]]);
    let method = u16::from_be_bytes([payload[2], payload[3]]);
    Ok(((class, method), payload.split_off(4)))
}

/// The reply text of a connection.close's arguments (code, text, ...).
fn close_reason(args: &[u8]) -> String {
    let Some(&len) = args.get(2) else {
        return "refused".to_owned();
    };
    let text = args.get(3..3 + usize::from(len)).unwrap_or_default();
    String::from_utf8_lossy(text).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_close_reason_is_read_without_trusting_its_length() {
        let mut args = 403u16.to_be_bytes().to_vec();
        short_str(&mut args, "ACCESS_REFUSED - Login was refused");
        assert_eq!(close_reason(&args), "ACCESS_REFUSED - Login was refused");
        assert_eq!(close_reason(&[1, 147, 200, b'x']), "");
        assert_eq!(close_reason(&[]), "refused");
    }

    #[tokio::test]
    async fn frames_that_are_too_large_or_malformed_are_refused() {
        let mut big: &[u8] = &[1, 0, 0, 0xff, 0xff, 0xff, 0xff];
        assert!(read_method(&mut big).await.is_err());
        let mut unterminated: &[u8] = &[1, 0, 0, 0, 0, 0, 4, 0, 10, 0, 50, 0];
        assert!(read_method(&mut unterminated).await.is_err());
        let mut good = method_frame(CLOSE, &[0, 200, 0]);
        good.extend_from_slice(b"rest");
        let mut reader: &[u8] = &good;
        let ((class, method), args) = read_method(&mut reader).await.unwrap();
        assert_eq!((class, method, args), (CONNECTION, CLOSE, vec![0, 200, 0]));
    }
}
