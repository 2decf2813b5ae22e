//! Turns amqprs's callbacks into events.
//!
//! amqprs reports publisher confirms, returned messages, broker-initiated
//! closes and consumer cancels only through a `ChannelCallback`. We forward
//! each of them as a [`ChannelEvent`] to whichever task owns the channel, in
//! the order the broker sent them (a `basic.return` precedes the `basic.ack`
//! of the same message). A channel the broker closes also counts against
//! the session's [`Health`] (amqprs never frees its id). The connection's
//! callback ([`ConnectionEvents`]) records why the broker closed the
//! connection and whether it blocks publishing.

use std::sync::Arc;

use amqprs::channel::Channel;
use amqprs::connection::Connection;
use amqprs::{Ack, BasicProperties, Cancel, Close, CloseChannel, Nack, Return};
use tokio::sync::mpsc;

use super::health::Health;
use super::shield::Gate;

/// Something the broker told us about a channel.
#[derive(Debug, Clone)]
pub(super) enum ChannelEvent {
    /// Messages up to `tag` (or only `tag`) were confirmed.
    Ack { tag: u64, multiple: bool },
    /// Messages up to `tag` (or only `tag`) were refused.
    Nack { tag: u64, multiple: bool },
    /// A mandatory message could not be routed.
    Return {
        /// The publish's tag, on a cast.
        message_id: Option<String>,
        /// The call's id, on a call's request.
        correlation_id: Option<String>,
        routing_key: String,
    },
    /// The broker cancelled a consumer (its queue was deleted, ...).
    Cancelled { consumer_tag: String },
    /// The broker closed the channel.
    Closed { code: u16, text: String },
}

/// The broker's reason for closing a channel (`406 PRECONDITION_FAILED -
/// ...`), if it closed it: read after an operation on it failed.
pub(super) fn close_reason(events: &mut mpsc::UnboundedReceiver<ChannelEvent>) -> Option<String> {
    let mut reason = None;
    while let Ok(event) = events.try_recv() {
        if let ChannelEvent::Closed { code, text } = event {
            reason = Some(format!("{code} {text}"));
        }
    }
    reason
}

/// Handles a channel's events at once, on amqprs's dispatcher task (so it
/// must not wait); returns those it leaves to the channel's owner.
pub(super) type Inline = Arc<dyn Fn(ChannelEvent) -> Option<ChannelEvent> + Send + Sync>;

/// Where a channel's events go.
#[derive(Clone)]
pub(super) struct EventSink {
    /// Handled first, if set (a publisher settles its confirms there
    /// without waking a task per confirm).
    pub(super) inline: Option<Inline>,
    /// The channel's owner.
    pub(super) owner: mpsc::UnboundedSender<ChannelEvent>,
}

impl From<mpsc::UnboundedSender<ChannelEvent>> for EventSink {
    fn from(owner: mpsc::UnboundedSender<ChannelEvent>) -> Self {
        Self {
            inline: None,
            owner,
        }
    }
}

/// The callback registered on every channel we open.
pub(super) struct Forward {
    sink: EventSink,
    health: Arc<Health>,
    /// The channel's acks: shut before amqprs answers the broker's close.
    gate: Arc<Gate>,
}

impl Forward {
    pub(super) fn new(sink: EventSink, health: Arc<Health>, gate: Arc<Gate>) -> Self {
        Self { sink, health, gate }
    }

    fn send(&self, event: ChannelEvent) {
        let event = match &self.sink.inline {
            Some(inline) => inline(event),
            None => Some(event),
        };
        if let Some(event) = event {
            // The owner may be gone (shutting down); nothing is waiting then.
            let _ = self.sink.owner.send(event);
        }
    }
}

#[async_trait::async_trait]
impl amqprs::callbacks::ChannelCallback for Forward {
    async fn close(
        &mut self,
        _channel: &Channel,
        close: CloseChannel,
    ) -> Result<(), amqprs::error::Error> {
        self.gate.shut().await;
        self.health.channel_closed_by_broker();
        self.send(ChannelEvent::Closed {
            code: close.reply_code(),
            text: close.reply_text().clone(),
        });
        Ok(())
    }

    async fn cancel(
        &mut self,
        _channel: &Channel,
        cancel: Cancel,
    ) -> Result<(), amqprs::error::Error> {
        self.send(ChannelEvent::Cancelled {
            consumer_tag: cancel.consumer_tag().clone(),
        });
        Ok(())
    }

    async fn flow(
        &mut self,
        _channel: &Channel,
        active: bool,
    ) -> Result<bool, amqprs::error::Error> {
        Ok(active)
    }

    async fn publish_ack(&mut self, _channel: &Channel, ack: Ack) {
        self.send(ChannelEvent::Ack {
            tag: ack.delivery_tag(),
            multiple: ack.mutiple(),
        });
    }

    async fn publish_nack(&mut self, _channel: &Channel, nack: Nack) {
        self.send(ChannelEvent::Nack {
            tag: nack.delivery_tag(),
            multiple: nack.multiple(),
        });
    }

    async fn publish_return(
        &mut self,
        _channel: &Channel,
        ret: Return,
        properties: BasicProperties,
        _content: Vec<u8>,
    ) {
        self.send(ChannelEvent::Return {
            message_id: properties.message_id().cloned(),
            correlation_id: properties.correlation_id().cloned(),
            routing_key: ret.routing_key().clone(),
        });
    }
}

/// The callback registered on each connection.
pub(super) struct ConnectionEvents(pub(super) Arc<Health>);

#[async_trait::async_trait]
impl amqprs::callbacks::ConnectionCallback for ConnectionEvents {
    async fn close(
        &mut self,
        _connection: &Connection,
        close: Close,
    ) -> Result<(), amqprs::error::Error> {
        self.0.condemn(format!(
            "the broker closed the connection: {} {}",
            close.reply_code(),
            close.reply_text()
        ));
        Ok(())
    }

    async fn blocked(&mut self, _connection: &Connection, reason: String) {
        tracing::warn!(%reason, "the broker blocks publishing on this connection (a resource alarm)");
        self.0.set_blocked(Some(reason));
    }

    async fn unblocked(&mut self, _connection: &Connection) {
        tracing::info!("the broker accepts publishes again");
        self.0.set_blocked(None);
    }

    async fn secret_updated(&mut self, _connection: &Connection) {}
}
