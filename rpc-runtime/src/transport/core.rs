//! The message glue every transport shares, whatever its driver: a call
//! registers as pending, gets a correlation id and the reply address, is
//! sealed in the wire format, published, and waits for its reply (and, with
//! a call monitor, its heartbeats) until its deadline; a cast waits for its
//! confirm until its deadline; a server's reply goes back to the caller's
//! address; a delivery is unsealed before anyone reads it.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore, TryAcquireError};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::driver::{CallId, Delivery, Listener, Publish, Settle, Subscribe};
use super::{Destination, Transport};
use crate::error::{Awaited, RpcError};
use crate::future::BoxFuture;
use crate::message::Message;
use crate::stream::RpcStream;
use crate::wire::{ReplyBody, Wire};

/// How far past its deadline a driver may take to give up on a send, before
/// the transport stops waiting for it anyway.
const FENCE: Duration = Duration::from_millis(250);

/// `timeout` from now, or as far as a timer reaches.
fn deadline_after(timeout: Duration) -> Instant {
    deadline_from(Instant::now(), timeout)
}

/// `timeout` from `start`, or as far as a timer reaches.
fn deadline_from(start: Instant, timeout: Duration) -> Instant {
    start
        .checked_add(timeout)
        .unwrap_or_else(|| start + Duration::from_secs(u64::from(u32::MAX)))
}

/// A message's time to live at the broker: the caller's timeout, in what
/// RabbitMQ accepts (larger expirations close the channel).
fn expiration(timeout: Duration) -> u64 {
    let ttl = timeout.as_millis().min(u128::from(u32::MAX));
    u64::try_from(ttl).unwrap_or(u64::from(u32::MAX))
}

/// A message on its way to the broker: the driver's publish (for a call,
/// after the reply queue's declaration on a transport's first call).
type Sending<'a> = BoxFuture<'a, Result<super::driver::Confirm, RpcError>>;

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
    /// What a call or cast that waited `timeout` in vain fails with: a
    /// timeout, named a block when the broker blocks publishing.
    pub(crate) fn timed_out(
        &self,
        method: &str,
        destination: String,
        timeout: Duration,
        awaited: Awaited,
    ) -> RpcError {
        let method = method.to_owned();
        match self.driver.blocked() {
            Some(alarm) => RpcError::Blocked {
                method,
                destination,
                timeout,
                awaited,
                alarm,
            },
            None => RpcError::Timeout {
                method,
                destination,
                timeout,
                awaited,
            },
        }
    }

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
        self.cast_raw(to, message, timeout).await
    }

    fn publish_options(&self, deadline: Instant, settle: Settle) -> Publish {
        Publish {
            deadline,
            wait_for_connection: (!self.fail_fast).then_some(self.max_pending_calls),
            settle,
        }
    }

    /// Sends an already built message as a call and waits up to `timeout`
    /// for the reply message, bypassing the typed layer (tools such as a
    /// command-line client use it; so do tests sending malformed requests).
    pub async fn call_raw(
        &self,
        destination: Destination,
        message: Message,
        timeout: Duration,
    ) -> Result<Message, RpcError> {
        let method = self.method_of(&message);
        let started = Instant::now();
        self.call_monitored(&method, &destination, message, (started, timeout), None)
            .await
    }

    /// Sends an already built message as a streaming call (see
    /// [`crate::stream`]): its items as they come, each an encoded value
    /// (`ReplyBody::Value`), the last one the manager's error or a
    /// framework failure if the stream failed. For tools such as a
    /// command-line client.
    pub async fn stream_raw(
        &self,
        destination: Destination,
        message: Message,
        timeout: Duration,
    ) -> RpcStream<ReplyBody, RpcError> {
        let method = self.method_of(&message);
        let topic = match &destination {
            Destination::Topic { topic } | Destination::Server { topic, .. } => topic.clone(),
            other => other.to_string(),
        };
        match self
            .open_call(&method, &destination, message, timeout)
            .await
        {
            Ok(call) => crate::stream::open(crate::stream::Opened {
                transport: self.clone(),
                call,
                method,
                topic,
                namespace: None,
                timeout,
                monitor: None,
                decode_item: |_, body| Ok(ReplyBody::Value(body.to_vec())),
                decode_end: |_, reply| Ok(reply),
                fail: std::convert::identity,
            }),
            Err(error) => RpcStream::failed(error),
        }
    }

    /// The method a built request names, for errors about it.
    fn method_of(&self, message: &Message) -> String {
        self.wire
            .decode_request(message.clone())
            .map_or_else(|_| "an unreadable request".to_owned(), |r| r.method)
    }

    /// Sends a call and waits for its reply, at most `timeout` from when
    /// the caller `started`; with a `monitor`, also gives up after that
    /// long without a heartbeat.
    ///
    /// The request is checked and handed to the driver here, before the
    /// returned future: it holds the call, not the message.
    pub(crate) fn call_monitored<'a>(
        &'a self,
        method: &'a str,
        destination: &'a Destination,
        message: Message,
        (started, timeout): (Instant, Duration),
        monitor: Option<Duration>,
    ) -> impl Future<Output = Result<Message, RpcError>> + Send + 'a {
        let deadline = deadline_from(started, timeout);
        // Not the opening future itself: what an `async` block captures it
        // holds to its end, and a call waits for its reply much longer.
        let opening = self.start_checked_call(destination, message, timeout, deadline);
        async move {
            let timed_out =
                || self.timed_out(method, destination.to_string(), timeout, Awaited::Reply);
            let mut call = self
                .opened(method, destination, (timeout, deadline), opening)
                .await?;
            let mut silent_until = monitor.map(|m| Instant::now() + m);
            loop {
                let wake = silent_until.map_or(deadline, |s| s.min(deadline));
                match tokio::time::timeout_at(wake, call.next()).await {
                    Ok(message) => {
                        let message = message?;
                        if !self.wire.is_heartbeat(&message) {
                            return Ok(message);
                        }
                        silent_until = monitor.map(|m| Instant::now() + m);
                    }
                    Err(_) if Instant::now() >= deadline => return Err(timed_out()),
                    Err(_) => {
                        return Err(RpcError::Unresponsive {
                            method: method.to_owned(),
                            silence: monitor.unwrap_or_default(),
                        });
                    }
                }
            }
        }
    }

    /// Sends a call's request (within `timeout`) and returns the call, whose
    /// replies (one, or a stream's items) arrive through it.
    pub(crate) fn open_call<'a>(
        &'a self,
        method: &'a str,
        destination: &'a Destination,
        message: Message,
        timeout: Duration,
    ) -> impl Future<Output = Result<super::pending::PendingCall, RpcError>> + Send + 'a {
        let deadline = deadline_after(timeout);
        // Everything up to the publish is done here, before the returned
        // future: it holds only the call and the driver's (boxed) publish,
        // not the message on its way.
        let opening = self.start_checked_call(destination, message, timeout, deadline);
        self.opened(method, destination, (timeout, deadline), opening)
    }

    /// The call once its request is published (at most `timeout` past
    /// `deadline`'s start, and a little more for the driver).
    async fn opened(
        &self,
        method: &str,
        destination: &Destination,
        (timeout, deadline): (Duration, Instant),
        opening: Result<(super::pending::PendingCall, Sending<'_>), RpcError>,
    ) -> Result<super::pending::PendingCall, RpcError> {
        let (call, sending) = opening?;
        tokio::time::timeout_at(deadline + FENCE, Self::sent(call, sending))
            .await
            .map_err(|_| self.timed_out(method, destination.to_string(), timeout, Awaited::Reply))?
    }

    /// Checks a call's request, then [`Transport::start_call`].
    fn start_checked_call<'a>(
        &'a self,
        destination: &'a Destination,
        mut message: Message,
        timeout: Duration,
        deadline: Instant,
    ) -> Result<(super::pending::PendingCall, Sending<'a>), RpcError> {
        if let Destination::Fanout { .. } = destination {
            return Err(RpcError::config(
                "a call cannot be sent to a fanout: nobody would know whose reply to wait for",
            ));
        }
        self.check_size(&message)?;
        // A call waiting for a reconnect counts as pending too.
        if self.pending_calls() >= self.max_pending_calls {
            return Err(RpcError::Overloaded {
                limit: self.max_pending_calls,
            });
        }
        message.expiration_ms = Some(expiration(timeout));
        self.start_call(destination, message, deadline)
    }

    /// Registers a call and starts publishing its request. On the first
    /// call of a transport, the returned future also waits for the reply
    /// queue; otherwise it is only the driver's publish.
    fn start_call<'a>(
        &'a self,
        destination: &'a Destination,
        message: Message,
        deadline: Instant,
    ) -> Result<(super::pending::PendingCall, Sending<'a>), RpcError> {
        self.hub.check_open()?;
        // Registered first: a connection lost from here on fails the call.
        let call = self.hub.pending.register();
        let how = self.publish_options(deadline, Settle::Call(CallId(call.id())));
        let correlation_id = call.correlation_id();
        let sending = match self.driver.ready_reply_address() {
            Some(reply_to) => {
                let message = self.addressed(destination, message, correlation_id, reply_to)?;
                self.driver.publish(destination, message, how)
            }
            None => Box::pin(async move {
                let reply_to = self.driver.reply_address(how).await?;
                let message = self.addressed(destination, message, correlation_id, reply_to)?;
                self.driver.publish(destination, message, how).await
            }),
        };
        Ok((call, sending))
    }

    /// `message` with its reply address, recorded and sealed.
    fn addressed(
        &self,
        destination: &Destination,
        mut message: Message,
        correlation_id: String,
        reply_to: String,
    ) -> Result<Message, RpcError> {
        message.correlation_id = Some(correlation_id);
        message.reply_to = Some(reply_to);
        if let Some(recorder) = &self.recorder {
            recorder(destination, &message, true);
        }
        self.wire.seal(message)
    }

    /// The call, once its request is published.
    async fn sent(
        call: super::pending::PendingCall,
        sending: Sending<'_>,
    ) -> Result<super::pending::PendingCall, RpcError> {
        // The driver may know at once that nobody takes it.
        if let super::driver::Confirm::Done(Err(error)) = sending.await? {
            return Err(error);
        }
        Ok(call)
    }

    /// Sends a request with a reply address (to a fanout too) and collects
    /// every reply that arrives within `window`, with how long each took: a
    /// fanout `ping` gets one answer per live server.
    pub async fn gather(
        &self,
        destination: Destination,
        mut message: Message,
        window: Duration,
    ) -> Result<Vec<(Duration, Message)>, RpcError> {
        self.check_size(&message)?;
        message.expiration_ms = Some(expiration(window));
        let started = Instant::now();
        let deadline = started + window;
        let (call, sending) = self.start_call(&destination, message, deadline)?;
        let sent = Self::sent(call, sending);
        let Ok(call) = tokio::time::timeout_at(deadline + FENCE, sent).await else {
            return Ok(Vec::new());
        };
        let mut call = call?;
        let mut replies = Vec::new();
        while let Ok(Ok(reply)) = tokio::time::timeout_at(deadline, call.next()).await {
            if !self.wire.is_heartbeat(&reply) {
                replies.push((started.elapsed(), reply));
            }
        }
        Ok(replies)
    }

    /// Sends an already built message one-way and waits at most `timeout`
    /// for the broker's confirm, bypassing the typed layer.
    pub async fn cast_raw(
        &self,
        destination: Destination,
        message: Message,
        timeout: Duration,
    ) -> Result<(), RpcError> {
        let method = self.method_of(&message);
        self.cast_named(&method, &destination, message, timeout)
            .await
    }

    /// Sends a cast of `method` and waits at most `timeout` for the
    /// broker's confirm; [`RpcError::Timeout`] then leaves it in doubt.
    /// The message is sealed and handed to the driver here, before the
    /// returned future.
    pub(crate) fn cast_named<'a>(
        &'a self,
        method: &'a str,
        destination: &'a Destination,
        message: Message,
        timeout: Duration,
    ) -> impl Future<Output = Result<(), RpcError>> + Send + 'a {
        let deadline = deadline_after(timeout);
        let sending = self.start_cast(destination, message, deadline);
        async move {
            let timed_out =
                || self.timed_out(method, destination.to_string(), timeout, Awaited::Confirm);
            let confirm = tokio::time::timeout_at(deadline + FENCE, sending?)
                .await
                .map_err(|_| timed_out())??;
            tokio::time::timeout_at(deadline, confirm.outcome())
                .await
                .map_err(|_| timed_out())?
        }
    }

    /// Checks, records and seals a cast and starts publishing it.
    fn start_cast<'a>(
        &'a self,
        destination: &'a Destination,
        message: Message,
        deadline: Instant,
    ) -> Result<Sending<'a>, RpcError> {
        self.check_size(&message)?;
        self.hub.check_open()?;
        if let Some(recorder) = &self.recorder {
            recorder(destination, &message, false);
        }
        let message = self.wire.seal(message)?;
        let how = self.publish_options(deadline, Settle::Confirm);
        Ok(self.driver.publish(destination, message, how))
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
                deadline: deadline_after(crate::client::DEFAULT_TIMEOUT),
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

    /// Refuses to send a body the receiving side would refuse to decode.
    pub(crate) fn check_size(&self, message: &Message) -> Result<(), RpcError> {
        let limit = self.wire.codec().max_size();
        let size = message.body.len();
        if let Some(broker) = self.driver.max_message_size().filter(|b| size > *b) {
            return Err(RpcError::TooLarge {
                size: size as u64,
                limit: broker as u64,
            });
        }
        if message.body.len() > limit {
            return Err(RpcError::Encode {
                what: "the message".to_owned(),
                detail: format!(
                    "its body of {} bytes exceeds the limit of {limit} bytes",
                    message.body.len()
                ),
            });
        }
        Ok(())
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
            if let Some(received) = Wire::of(&delivery.message).filter(|w| *w != self.speaks()) {
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
