//! Learns whether the broker blocks publishing, and why.
//!
//! When a RabbitMQ node runs low on memory or disk (a resource alarm), the
//! whole cluster stops reading from every connection that publishes: its
//! confirms, replies and acks stop arriving until the alarm clears. The
//! broker says so (`connection.blocked`, with a reason such as `low on
//! memory`) only to clients that ask for it in their client properties,
//! and amqprs's are fixed. So once a session's publishes have waited
//! [`SUSPECT_AFTER`] for their confirms, a probe asks in their place: it
//! opens a small connection of its own to the same broker advertising
//! `connection.blocked`, and publishes one empty, unroutable message on a
//! confirm-mode channel. A confirm means publishing works (the probe ends);
//! `connection.blocked` means an alarm, and the probe then stays connected
//! until `connection.unblocked`. Meanwhile the session's [`Health`] holds
//! the reason: the watchdog does not replace a session that is blocked (a
//! new one would be blocked too), and a call or cast whose deadline passes
//! fails with [`crate::RpcError::Blocked`], naming the alarm.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::config::AmqpConfig;
use super::endpoint::Endpoint;
use super::health::Health;
use super::raw::{self, Opening, Stream};

/// How long publishes wait for their confirms before a probe asks why.
pub(super) const SUSPECT_AFTER: Duration = Duration::from_millis(500);

/// The routing key of the probe's message: no queue is bound to it.
const PROBE_KEY: &str = "rpc-runtime.alarm-probe";

/// The probe's channel.
const CHANNEL: u16 = 1;

/// Starts a probe for the session whose `health` this is, unless one runs
/// already; it ends by itself, or with `ended` (the session or the
/// transport).
pub(super) fn spawn(
    config: &AmqpConfig,
    endpoint: &Endpoint,
    health: &Arc<Health>,
    ended: CancellationToken,
) {
    if !health.start_probing() {
        return;
    }
    let (config, endpoint, health) = (config.clone(), endpoint.clone(), Arc::clone(health));
    tokio::spawn(async move {
        tokio::select! {
            () = ended.cancelled() => {}
            () = health.condemned() => {}
            () = probe(&config, &endpoint, &health) => {}
        }
        health.set_blocked(None);
        health.stop_probing();
    });
}

/// Asks the broker whether it blocks publishing; while it does, records
/// why in `health` and waits for the end of the alarm.
async fn probe(config: &AmqpConfig, endpoint: &Endpoint, health: &Health) {
    let limit = config.connect_timeout();
    let asked = tokio::time::timeout(limit, ask(config, endpoint)).await;
    let (mut stream, reason) = match asked {
        Ok(Ok(Some(blocked))) => blocked,
        Ok(Ok(None)) => return,
        Ok(Err(error)) => {
            tracing::debug!(%error, "the alarm probe could not ask the broker");
            return;
        }
        Err(_) => {
            tracing::debug!("the alarm probe got no answer in {limit:?}");
            return;
        }
    };
    let since = Instant::now();
    tracing::warn!(broker = %endpoint, %reason, "the broker blocks publishing (a resource alarm); calls and casts wait, and fail when their deadline passes");
    health.set_blocked(Some(reason));
    loop {
        match raw::read_frame(&mut stream).await {
            Ok(frame) if frame.method().map(|(m, _)| m) == Some(raw::CONNECTION_UNBLOCKED) => {
                tracing::info!(broker = %endpoint, blocked_for = ?since.elapsed(), "the broker accepts publishes again");
                return;
            }
            Ok(_) => {}
            Err(error) => {
                tracing::debug!(%error, "the alarm probe's connection ended");
                return;
            }
        }
    }
}

/// Opens the probe's connection and publishes; returns it with the
/// broker's reason when the broker blocks it, `None` when the message was
/// confirmed (or the broker said something else).
async fn ask(
    config: &AmqpConfig,
    endpoint: &Endpoint,
) -> std::io::Result<Option<(Box<dyn Stream>, String)>> {
    let tls = match config.tls_options() {
        Some(tls) => Some(
            tls.connector(endpoint.host())
                .map_err(|e| std::io::Error::other(e.to_string()))?,
        ),
        None => None,
    };
    let mut stream = raw::connect(endpoint, tls.as_ref()).await?;
    let capabilities = ["connection.blocked"];
    let product = "rpc-runtime alarm probe";
    if raw::open(&mut *stream, config, endpoint, product, &capabilities).await? != Opening::Open {
        return Ok(None);
    }
    stream
        .write_all(&raw::method_frame(CHANNEL, raw::CHANNEL_OPEN, &[0]))
        .await?;
    stream
        .write_all(&raw::method_frame(CHANNEL, raw::CONFIRM_SELECT, &[0]))
        .await?;
    let mut publish = 0u16.to_be_bytes().to_vec();
    raw::short_str(&mut publish, config.exchange());
    raw::short_str(&mut publish, PROBE_KEY);
    publish.push(0);
    stream
        .write_all(&raw::method_frame(CHANNEL, raw::BASIC_PUBLISH, &publish))
        .await?;
    stream
        .write_all(&raw::empty_content_header(CHANNEL))
        .await?;
    loop {
        let frame = raw::read_frame(&mut stream).await?;
        match frame.method() {
            Some((raw::CONNECTION_BLOCKED, args)) => {
                let reason = raw::short_text(args, false);
                return Ok(Some((stream, reason)));
            }
            Some((raw::BASIC_ACK | raw::BASIC_NACK, _)) => {
                raw::close(&mut *stream).await;
                return Ok(None);
            }
            Some((raw::CONNECTION_CLOSE | raw::CHANNEL_CLOSE, args)) => {
                tracing::debug!(reason = %raw::close_reason(args), "the broker closed the alarm probe");
                return Ok(None);
            }
            _ => {}
        }
    }
}
