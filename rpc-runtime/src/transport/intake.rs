//! What a server or listener receives through, whatever the driver:
//! subscriptions, the next delivery (unsealed, within the receiver's
//! permits, until it stops), replies back to callers, and messages put
//! back at the end of their queue.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore, TryAcquireError};
use tokio_util::sync::CancellationToken;

use super::calls::deadline_after;
use super::driver::{Delivery, Listener, Publish, Settle, Subscribe};
use super::{DEFAULT_TIMEOUT, Destination, Transport};
use crate::error::RpcError;
use crate::message::Message;
use crate::options::CallOptions;

/// How often a message came back already, by its `counter` header (a
/// server's `x-redeliveries`, a listener's `x-retries`).
pub(crate) fn times_back(message: &Message, counter: &str) -> u32 {
    message
        .headers
        .get(counter)
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

impl Transport {
    /// Puts `message` back at the end of its queue (`to`), its `counter`
    /// header set to `count`, and waits for the broker's confirm (at most
    /// `timeout`).
    pub(crate) async fn send_back(
        &self,
        to: Destination,
        mut message: Message,
        counter: &'static str,
        count: u32,
        timeout: Duration,
    ) -> Result<(), RpcError> {
        message.headers.insert(counter, count.to_string());
        message.received_at = None;
        let method = self.method_of(&message);
        self.cast_named(&method, &to, message, &CallOptions::new().timeout(timeout))
            .await
    }

    /// Sends a server's reply (or heartbeat) to the caller's address (a
    /// [`Destination::Queue`]); it is not confirmed, and not waited for
    /// once handed over. The message is sealed and handed to the driver
    /// here, before the returned future.
    pub(crate) fn reply<'a>(
        &'a self,
        to: &'a Destination,
        message: Message,
    ) -> impl Future<Output = Result<(), RpcError>> + Send + 'a {
        let sending = self.hub.check_open().and_then(|()| {
            let message = self.wire.seal(message)?;
            let how = Publish {
                deadline: deadline_after(DEFAULT_TIMEOUT).into_std(),
                wait_for_connection: None,
                settle: Settle::None,
            };
            Ok(self.driver.publish(to, message, how))
        });
        async move {
            // Confirmed only when large: a refusal for its size then shows.
            sending?.await?.outcome().await
        }
    }

    /// Starts receiving from `spec`'s source.
    pub(crate) async fn subscribe(&self, spec: Subscribe) -> Result<Listener, RpcError> {
        self.hub.check_open()?;
        self.driver.subscribe(spec).await
    }

    /// Makes `spec`'s source exist.
    pub(crate) async fn declare(&self, spec: Subscribe) -> Result<(), RpcError> {
        self.driver.declare(spec).await
    }

    /// Waits for a free permit, then for the next delivery of `listener`,
    /// unsealed (one it cannot read is acked, logged and skipped); `None`
    /// once the deliveries end (logged, naming `what`) or when `stop` is
    /// found cancelled: it is checked before each delivery is waited for
    /// (a delivery already at hand is still taken).
    pub(crate) async fn next_delivery(
        &self,
        listener: &mut Listener,
        permits: &Arc<Semaphore>,
        stop: &CancellationToken,
        what: &str,
    ) -> Option<(OwnedSemaphorePermit, Delivery)> {
        // Checked first, every time; waited for only when something else
        // is waited for (waiting registers with the token, under its locks).
        if stop.is_cancelled() {
            return None;
        }
        let permit = match Arc::clone(permits).try_acquire_owned() {
            Ok(permit) => permit,
            Err(TryAcquireError::Closed) => return None,
            Err(TryAcquireError::NoPermits) => loop {
                tokio::select! {
                    biased;
                    () = stop.cancelled() => return None,
                    permit = Arc::clone(permits).acquire_owned() => break permit.ok()?,
                    () = listener.hold_arrivals() => listener.settle_due(what).await,
                }
            },
        };
        loop {
            // A delivery at hand is taken: it arrived before the stop was
            // seen (checked above), as it could have a moment earlier.
            let delivery = tokio::select! {
                biased;
                delivery = listener.recv() => delivery,
                () = stop.cancelled() => return None,
            };
            let Some(mut delivery) = delivery else {
                // Expected once this transport is closed; a loss otherwise.
                if self.hub.check_open().is_ok() {
                    tracing::error!(what, "stopped receiving: the deliveries ended");
                } else {
                    tracing::debug!(what, "stopped receiving: the transport is closed");
                }
                return None;
            };
            // A request in the other wire format is answered in its own.
            if let Some(received) = super::mismatch::foreign(self.wire(), &delivery.message) {
                if let Err(error) = delivery.acker.ack().await {
                    tracing::debug!(%error, "could not ack a message in the other wire format");
                }
                self.answer_wrong_wire(delivery.message, received).await;
            } else {
                match self.wire.unseal(std::mem::take(&mut delivery.message)) {
                    Ok(message) => {
                        delivery.message = message;
                        return Some((permit, delivery));
                    }
                    Err(error) => {
                        tracing::warn!(what, queue = %delivery.queue, %error, "dropped an unreadable message");
                        if let Err(error) = delivery.acker.ack().await {
                            tracing::debug!(%error, "could not ack an unreadable message");
                        }
                    }
                }
            }
            // A stream of messages skipped does not keep a stop waiting.
            if stop.is_cancelled() {
                return None;
            }
        }
    }
}
