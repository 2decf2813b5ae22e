//! The caller's path, whatever the driver: a call registers as pending,
//! gets a correlation id and the reply address, is sealed in the wire
//! format, published, and waits for its reply (and, with a call monitor,
//! its heartbeats) until its deadline; a cast waits for its confirm until
//! its deadline.

use std::time::Duration;

use tokio::time::Instant;

use super::driver::{CallId, Confirm, Publish, Settle};
use super::pending::PendingCall;
use super::{Destination, Transport};
use crate::error::{Awaited, RpcError};
use crate::future::BoxFuture;
use crate::message::Message;
use crate::options::CallOptions;

/// How far past its deadline a driver may take to give up on a send, before
/// the transport stops waiting for it anyway.
pub(crate) const FENCE: Duration = Duration::from_millis(250);

/// `timeout` from now, or as far as a timer reaches.
pub(crate) fn deadline_after(timeout: Duration) -> Instant {
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
pub(crate) fn expiration(timeout: Duration) -> u64 {
    let ttl = timeout.as_millis().min(u128::from(u32::MAX));
    u64::try_from(ttl).unwrap_or(u64::from(u32::MAX))
}

/// A message on its way to the broker: the driver's publish (for a call,
/// after the reply queue's declaration on a transport's first call).
pub(crate) type Sending<'a> = BoxFuture<'a, Result<Confirm, RpcError>>;

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

    /// How a message is published: until `deadline`, waiting for a
    /// reconnect unless `fail_fast` (else as this transport says).
    pub(crate) fn publish_options(
        &self,
        deadline: Instant,
        settle: Settle,
        fail_fast: Option<bool>,
    ) -> Publish {
        let fail_fast = fail_fast.unwrap_or(self.fail_fast);
        Publish {
            deadline: deadline.into_std(),
            wait_for_connection: (!fail_fast).then_some(self.max_pending_calls),
            settle,
        }
    }

    /// The method a built request names, for errors about it.
    pub(crate) fn method_of(&self, message: &Message) -> String {
        self.wire
            .decode_request(message.clone())
            .map_or_else(|_| "an unreadable request".to_owned(), |r| r.method)
    }

    /// Sends a call and waits for its reply, at most the options' timeout
    /// from when the caller `started`; with a call monitor, also gives up
    /// after that long without a heartbeat.
    ///
    /// The request is checked and handed to the driver here, before the
    /// returned future: it holds the call, not the message.
    pub(crate) fn call_monitored<'a>(
        &'a self,
        method: &'a str,
        destination: &'a Destination,
        message: Message,
        started: Instant,
        options: &CallOptions,
    ) -> impl Future<Output = Result<Message, RpcError>> + Send + 'a {
        let (timeout, monitor) = (options.timeout_or_default(), options.call_monitor);
        let deadline = deadline_from(started, timeout);
        // Not the opening future itself: what an `async` block captures it
        // holds to its end, and a call waits for its reply much longer.
        let opening =
            self.start_checked_call(destination, message, (timeout, deadline), options.fail_fast);
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

    /// Sends a call's request (within the options' timeout) and returns
    /// the call, whose replies (one, or a stream's items) arrive through it.
    pub(crate) fn open_call<'a>(
        &'a self,
        method: &'a str,
        destination: &'a Destination,
        message: Message,
        options: &CallOptions,
    ) -> impl Future<Output = Result<PendingCall, RpcError>> + Send + 'a {
        let timeout = options.timeout_or_default();
        let deadline = deadline_after(timeout);
        // Everything up to the publish is done here, before the returned
        // future: it holds only the call and the driver's (boxed) publish,
        // not the message on its way.
        let opening =
            self.start_checked_call(destination, message, (timeout, deadline), options.fail_fast);
        self.opened(method, destination, (timeout, deadline), opening)
    }

    /// The call once its request is published (at most `timeout` past
    /// `deadline`'s start, and a little more for the driver).
    async fn opened(
        &self,
        method: &str,
        destination: &Destination,
        (timeout, deadline): (Duration, Instant),
        opening: Result<(PendingCall, Sending<'_>), RpcError>,
    ) -> Result<PendingCall, RpcError> {
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
        (timeout, deadline): (Duration, Instant),
        fail_fast: Option<bool>,
    ) -> Result<(PendingCall, Sending<'a>), RpcError> {
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
        self.start_call(destination, message, deadline, fail_fast)
    }

    /// Registers a call and starts publishing its request. On the first
    /// call of a transport, the returned future also waits for the reply
    /// queue; otherwise it is only the driver's publish.
    pub(crate) fn start_call<'a>(
        &'a self,
        destination: &'a Destination,
        message: Message,
        deadline: Instant,
        fail_fast: Option<bool>,
    ) -> Result<(PendingCall, Sending<'a>), RpcError> {
        self.hub.check_open()?;
        // Registered first: a connection lost from here on fails the call.
        let call = self.hub.pending.register();
        let how = self.publish_options(deadline, Settle::Call(CallId(call.id())), fail_fast);
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
    pub(crate) async fn sent(
        call: PendingCall,
        sending: Sending<'_>,
    ) -> Result<PendingCall, RpcError> {
        // The driver may know at once that nobody takes it.
        if let Confirm::Done(Err(error)) = sending.await? {
            return Err(error);
        }
        Ok(call)
    }

    /// Sends a cast of `method` and waits at most the options' timeout for
    /// the broker's confirm; [`RpcError::Timeout`] then leaves it in doubt.
    /// The message is sealed and handed to the driver here, before the
    /// returned future.
    pub(crate) fn cast_named<'a>(
        &'a self,
        method: &'a str,
        destination: &'a Destination,
        mut message: Message,
        options: &CallOptions,
    ) -> impl Future<Output = Result<(), RpcError>> + Send + 'a {
        if let Some(ttl) = options.cast_ttl {
            message.expiration_ms = Some(expiration(ttl));
        }
        let timeout = options.timeout_or_default();
        let deadline = deadline_after(timeout);
        let sending = self.start_cast(destination, message, deadline, options.fail_fast);
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
        fail_fast: Option<bool>,
    ) -> Result<Sending<'a>, RpcError> {
        self.check_size(&message)?;
        self.hub.check_open()?;
        if let Some(recorder) = &self.recorder {
            recorder(destination, &message, false);
        }
        let message = self.wire.seal(message)?;
        let how = self.publish_options(deadline, Settle::Confirm, fail_fast);
        Ok(self.driver.publish(destination, message, how))
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
}
