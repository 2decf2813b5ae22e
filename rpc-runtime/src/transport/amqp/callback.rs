//! Turns amqprs's channel callbacks into events on a Tokio channel.
//!
//! amqprs reports publisher confirms, returned messages, broker-initiated
//! closes and consumer cancels only through a `ChannelCallback`. We forward
//! each of them as a [`ChannelEvent`] to whichever task owns the channel, in
//! the order the broker sent them (a `basic.return` precedes the `basic.ack`
//! of the same message).

use amqprs::channel::Channel;
use amqprs::{Ack, BasicProperties, Cancel, CloseChannel, Nack, Return};
use tokio::sync::mpsc;

/// Something the broker told us about a channel.
#[derive(Debug)]
pub(super) enum ChannelEvent {
    /// Messages up to `tag` (or only `tag`) were confirmed.
    Ack { tag: u64, multiple: bool },
    /// Messages up to `tag` (or only `tag`) were refused.
    Nack { tag: u64, multiple: bool },
    /// A mandatory message could not be routed.
    Return {
        message_id: Option<String>,
        correlation_id: Option<String>,
        exchange: String,
        routing_key: String,
    },
    /// The broker cancelled a consumer (its queue was deleted, ...).
    Cancelled { consumer_tag: String },
    /// The broker closed the channel.
    Closed { code: u16, text: String },
}

/// The callback registered on every channel we open.
pub(super) struct Forward(pub(super) mpsc::UnboundedSender<ChannelEvent>);

impl Forward {
    fn send(&self, event: ChannelEvent) {
        // The owner may be gone (shutting down); nothing is waiting then.
        let _ = self.0.send(event);
    }
}

#[async_trait::async_trait]
impl amqprs::callbacks::ChannelCallback for Forward {
    async fn close(
        &mut self,
        _channel: &Channel,
        close: CloseChannel,
    ) -> Result<(), amqprs::error::Error> {
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
            exchange: ret.exchange().clone(),
            routing_key: ret.routing_key().clone(),
        });
    }
}

/// Opens a channel with a [`Forward`] callback; returns it and its events.
pub(super) async fn open_channel(
    connection: &amqprs::connection::Connection,
) -> Result<(Channel, mpsc::UnboundedReceiver<ChannelEvent>), crate::RpcError> {
    let (tx, rx) = mpsc::unbounded_channel();
    let channel = open_channel_to(connection, tx).await?;
    Ok((channel, rx))
}

/// Opens a channel whose events go to an existing queue of events.
pub(super) async fn open_channel_to(
    connection: &amqprs::connection::Connection,
    events: mpsc::UnboundedSender<ChannelEvent>,
) -> Result<Channel, crate::RpcError> {
    let channel = connection
        .open_channel(None)
        .await
        .map_err(crate::RpcError::connection)?;
    channel
        .register_callback(Forward(events))
        .await
        .map_err(crate::RpcError::connection)?;
    Ok(channel)
}
