//! A few AMQP 0-9-1 frames, read and written by hand, for what amqprs
//! cannot be asked: its client properties are fixed, so it never tells
//! RabbitMQ that it wants to hear why a login was refused
//! (`authentication_failure_close`, see [`super::handshake`]) or that the
//! broker blocks publishing (`connection.blocked`, see [`super::alarm`]).
//! This module opens a connection up to `connection.open-ok` advertising
//! such capabilities, and frames the handful of methods those two need.
//! Everything it reads is untrusted: frames are size-checked, and any
//! surprise is an error or "unclear", never a panic.

use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use super::config::AmqpConfig;
use super::endpoint::Endpoint;

/// The largest frame read (connection.start carries the broker's
/// properties: a few kilobytes).
const MAX_FRAME: u32 = 128 * 1024;

const FRAME_METHOD: u8 = 1;
const FRAME_HEADER: u8 = 2;
const FRAME_END: u8 = 0xCE;

/// Methods, as (class, method).
pub(super) const CONNECTION_START: (u16, u16) = (10, 10);
const CONNECTION_START_OK: (u16, u16) = (10, 11);
pub(super) const CONNECTION_TUNE: (u16, u16) = (10, 30);
const CONNECTION_TUNE_OK: (u16, u16) = (10, 31);
const CONNECTION_OPEN: (u16, u16) = (10, 40);
pub(super) const CONNECTION_OPEN_OK: (u16, u16) = (10, 41);
pub(super) const CONNECTION_CLOSE: (u16, u16) = (10, 50);
pub(super) const CONNECTION_BLOCKED: (u16, u16) = (10, 60);
pub(super) const CONNECTION_UNBLOCKED: (u16, u16) = (10, 61);
pub(super) const CHANNEL_OPEN: (u16, u16) = (20, 10);
pub(super) const CHANNEL_CLOSE: (u16, u16) = (20, 40);
pub(super) const CONFIRM_SELECT: (u16, u16) = (85, 10);
pub(super) const BASIC_PUBLISH: (u16, u16) = (60, 40);
pub(super) const BASIC_ACK: (u16, u16) = (60, 80);
pub(super) const BASIC_NACK: (u16, u16) = (60, 120);

/// A connection's byte stream, plain or TLS.
pub(super) trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}

impl<S: AsyncRead + AsyncWrite + Unpin + Send> Stream for S {}

/// One frame as read.
#[derive(Debug)]
pub(super) struct Frame {
    kind: u8,
    payload: Vec<u8>,
}

impl Frame {
    /// The method and its arguments, for a method frame.
    pub(super) fn method(&self) -> Option<((u16, u16), &[u8])> {
        if self.kind != FRAME_METHOD || self.payload.len() < 4 {
            return None;
        }
        let p = &self.payload;
        let class = u16::from_be_bytes([p[0], p[1]]);
        let method = u16::from_be_bytes([p[2], p[3]]);
        Some(((class, method), &p[4..]))
    }
}

/// Where the opening handshake stopped.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Opening {
    /// The connection is open.
    Open,
    /// The broker refused the login (user name or password): its text.
    LoginRefused(String),
    /// The broker refused the vhost (missing, or no permission): its text.
    VhostRefused(String),
    /// The handshake ended some other way (nothing to explain).
    Unclear,
}

/// Connects to `endpoint` (through `tls` when given).
pub(super) async fn connect(
    endpoint: &Endpoint,
    tls: Option<&(TlsConnector, String)>,
) -> std::io::Result<Box<dyn Stream>> {
    let tcp = TcpStream::connect((endpoint.host(), endpoint.port())).await?;
    match tls {
        None => Ok(Box::new(tcp)),
        Some((connector, name)) => {
            let name = ServerName::try_from(name.clone())
                .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
            Ok(Box::new(connector.connect(name, tcp).await?))
        }
    }
}

/// Runs the opening handshake on `stream` up to `connection.open-ok`, as
/// `product`, advertising `capabilities`; no heartbeats.
pub(super) async fn open(
    stream: &mut dyn Stream,
    config: &AmqpConfig,
    endpoint: &Endpoint,
    product: &str,
    capabilities: &[&str],
) -> std::io::Result<Opening> {
    stream.write_all(b"AMQP\x00\x00\x09\x01").await?;
    if read_frame(stream).await?.method().map(|(m, _)| m) != Some(CONNECTION_START) {
        return Ok(Opening::Unclear);
    }
    let start_ok = start_ok(endpoint, product, capabilities);
    stream
        .write_all(&method_frame(0, CONNECTION_START_OK, &start_ok))
        .await?;
    let frame = read_frame(stream).await?;
    let tune = match frame.method() {
        Some((CONNECTION_TUNE, args)) if args.len() >= 8 => args,
        Some((CONNECTION_CLOSE, args)) => return Ok(Opening::LoginRefused(close_reason(args))),
        _ => return Ok(Opening::Unclear),
    };
    // Accept the broker's limits, no heartbeats, then open the vhost.
    let mut tune_ok = tune[..6].to_vec();
    tune_ok.extend_from_slice(&[0, 0]);
    stream
        .write_all(&method_frame(0, CONNECTION_TUNE_OK, &tune_ok))
        .await?;
    let mut open = Vec::new();
    short_str(&mut open, config.vhost());
    open.extend_from_slice(&[0, 0]);
    stream
        .write_all(&method_frame(0, CONNECTION_OPEN, &open))
        .await?;
    Ok(match read_frame(stream).await?.method() {
        Some((CONNECTION_OPEN_OK, _)) => Opening::Open,
        Some((CONNECTION_CLOSE, args)) => Opening::VhostRefused(close_reason(args)),
        _ => Opening::Unclear,
    })
}

/// Closes an open connection politely (without waiting for the answer).
pub(super) async fn close(stream: &mut dyn Stream) {
    let mut close = 200u16.to_be_bytes().to_vec();
    short_str(&mut close, "");
    close.extend_from_slice(&[0, 0, 0, 0]);
    let _ = stream
        .write_all(&method_frame(0, CONNECTION_CLOSE, &close))
        .await;
}

/// connection.start-ok: PLAIN login, with `capabilities` set to true.
fn start_ok(endpoint: &Endpoint, product: &str, capabilities: &[&str]) -> Vec<u8> {
    let mut table = Vec::new();
    for capability in capabilities {
        short_str(&mut table, capability);
        table.extend_from_slice(b"t\x01");
    }
    let mut properties = Vec::new();
    short_str(&mut properties, "capabilities");
    properties.push(b'F');
    long_bytes(&mut properties, &table);
    short_str(&mut properties, "product");
    properties.push(b'S');
    long_bytes(&mut properties, product.as_bytes());
    let mut args = Vec::new();
    long_bytes(&mut args, &properties);
    short_str(&mut args, "PLAIN");
    let mut response = vec![0];
    response.extend_from_slice(endpoint.username().as_bytes());
    response.push(0);
    response.extend_from_slice(endpoint.password().expose().as_bytes());
    long_bytes(&mut args, &response);
    short_str(&mut args, "en_US");
    args
}

/// A method frame on `channel`.
pub(super) fn method_frame(channel: u16, (class, method): (u16, u16), args: &[u8]) -> Vec<u8> {
    let mut payload = class.to_be_bytes().to_vec();
    payload.extend_from_slice(&method.to_be_bytes());
    payload.extend_from_slice(args);
    frame(FRAME_METHOD, channel, &payload)
}

/// The content header of an empty message without properties, on
/// `channel` (a body of size 0 has no body frame).
pub(super) fn empty_content_header(channel: u16) -> Vec<u8> {
    let mut payload = 60u16.to_be_bytes().to_vec();
    payload.extend_from_slice(&[0, 0]);
    payload.extend_from_slice(&0u64.to_be_bytes());
    payload.extend_from_slice(&[0, 0]);
    frame(FRAME_HEADER, channel, &payload)
}

fn frame(kind: u8, channel: u16, payload: &[u8]) -> Vec<u8> {
    let mut frame = vec![kind];
    frame.extend_from_slice(&channel.to_be_bytes());
    long_bytes(&mut frame, payload);
    frame.push(FRAME_END);
    frame
}

pub(super) fn short_str(out: &mut Vec<u8>, value: &str) {
    let bytes = &value.as_bytes()[..value.len().min(255)];
    out.push(bytes.len() as u8);
    out.extend_from_slice(bytes);
}

fn long_bytes(out: &mut Vec<u8>, value: &[u8]) {
    out.extend_from_slice(&u32::try_from(value.len()).unwrap_or(u32::MAX).to_be_bytes());
    out.extend_from_slice(value);
}

/// Reads one frame.
pub(super) async fn read_frame<S: AsyncRead + Unpin + ?Sized>(
    stream: &mut S,
) -> std::io::Result<Frame> {
    let mut header = [0u8; 7];
    stream.read_exact(&mut header).await?;
    let size = u32::from_be_bytes([header[3], header[4], header[5], header[6]]);
    if size > MAX_FRAME {
        return Err(std::io::ErrorKind::InvalidData.into());
    }
    let mut payload = vec![0u8; size as usize + 1];
    stream.read_exact(&mut payload).await?;
    if payload.pop() != Some(FRAME_END) {
        return Err(std::io::ErrorKind::InvalidData.into());
    }
    Ok(Frame {
        kind: header[0],
        payload,
    })
}

/// The first short string of `args` (a reply text after a u16 code when
/// `after_code`; connection.blocked's reason without), without trusting
/// its length.
pub(super) fn short_text(args: &[u8], after_code: bool) -> String {
    let at = if after_code { 2 } else { 0 };
    let Some(&len) = args.get(at) else {
        return String::new();
    };
    let text = args
        .get(at + 1..at + 1 + usize::from(len))
        .unwrap_or_default();
    String::from_utf8_lossy(text).into_owned()
}

/// The reply text of a close's arguments (code, text, ...).
pub(super) fn close_reason(args: &[u8]) -> String {
    match short_text(args, true) {
        text if text.is_empty() && args.len() < 3 => "refused".to_owned(),
        text => text,
    }
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
        let mut blocked = Vec::new();
        short_str(&mut blocked, "low on memory");
        assert_eq!(short_text(&blocked, false), "low on memory");
    }

    #[tokio::test]
    async fn frames_that_are_too_large_or_malformed_are_refused() {
        let mut big: &[u8] = &[1, 0, 0, 0xff, 0xff, 0xff, 0xff];
        assert!(read_frame(&mut big).await.is_err());
        let mut unterminated: &[u8] = &[1, 0, 0, 0, 0, 0, 4, 0, 10, 0, 50, 0];
        assert!(read_frame(&mut unterminated).await.is_err());
        let mut good = method_frame(3, CONNECTION_CLOSE, &[0, 200, 0]);
        good.extend_from_slice(b"rest");
        let mut reader: &[u8] = &good;
        let frame = read_frame(&mut reader).await.unwrap();
        let (method, args) = frame.method().unwrap();
        assert_eq!((method, args), (CONNECTION_CLOSE, &[0, 200, 0][..]));
        let header = empty_content_header(1);
        let mut reader: &[u8] = &header;
        let frame = read_frame(&mut reader).await.unwrap();
        assert_eq!((frame.kind, frame.method().is_none()), (FRAME_HEADER, true));
    }
}
