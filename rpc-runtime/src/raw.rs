//! Tools' entry points on a [`Transport`]: already built messages sent
//! as calls, casts, streams and gathers, bypassing the typed layer (a
//! command-line client uses them; so do tests sending malformed requests).

use std::time::Duration;

use tokio::time::Instant;

use crate::error::RpcError;
use crate::message::Message;
use crate::options::CallOptions;
use crate::stream::RpcStream;
use crate::transport::calls::{FENCE, expiration};
use crate::transport::{Destination, Transport};
use crate::wire::ReplyBody;

impl Transport {
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
        self.call_monitored(
            &method,
            &destination,
            message,
            started,
            &CallOptions::new().timeout(timeout),
        )
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
            .open_call(
                &method,
                &destination,
                message,
                &CallOptions::new().timeout(timeout),
            )
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
        let (call, sending) = self.start_call(&destination, message, deadline, None)?;
        let sent = Self::sent(call, sending);
        let Ok(call) = tokio::time::timeout_at(deadline + FENCE, sent).await else {
            return Ok(Vec::new());
        };
        let mut call = call?;
        let mut replies = Vec::new();
        while let Ok(Ok(reply)) = tokio::time::timeout_at(deadline, call.next()).await {
            if !self.wire().is_heartbeat(&reply) {
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
        self.cast_named(
            &method,
            &destination,
            message,
            &CallOptions::new().timeout(timeout),
        )
        .await
    }
}
