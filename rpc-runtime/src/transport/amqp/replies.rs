//! The client's reply queue: one exclusive, auto-delete `reply_<uuid>` queue
//! per transport, consumed without acks, whose messages are handed to the
//! waiting call by correlation id.
//!
//! An exclusive queue on the default exchange was chosen over RabbitMQ's
//! direct reply-to: measured with hand-written amqprs on this kind of machine
//! it is faster (27.8k vs 25.5k calls/s at 64 in flight; 280 vs 315 µs median
//! at 1), and oslo.messaging servers can only answer to a real queue named in
//! the request.

use std::sync::Arc;

use amqprs::channel::{BasicConsumeArguments, Channel, QueueDeclareArguments};
use tokio::sync::mpsc;

use super::callback::{ChannelEvent, open_channel};
use super::props::from_delivery;
use crate::error::RpcError;
use crate::pending::PendingCalls;
use crate::topology;

/// A declared and consumed reply queue.
pub(super) struct ReplyQueue {
    name: String,
    _channel: Channel,
}

impl ReplyQueue {
    /// Declares the queue, starts consuming it and routing replies to `pending`.
    pub(super) async fn start(
        connection: &amqprs::connection::Connection,
        pending: Arc<PendingCalls>,
    ) -> Result<Self, RpcError> {
        let (channel, events) = open_channel(connection).await?;
        let name = topology::reply_queue();
        let declare = QueueDeclareArguments::new(&name)
            .exclusive(true)
            .auto_delete(true)
            .finish();
        channel
            .queue_declare(declare)
            .await
            .map_err(RpcError::connection)?;
        let consume = BasicConsumeArguments::new(&name, &uuid::Uuid::new_v4().simple().to_string())
            .manual_ack(false)
            .finish();
        let (_tag, deliveries) = channel
            .basic_consume_rx(consume)
            .await
            .map_err(RpcError::connection)?;
        tokio::spawn(route(deliveries, events, pending));
        Ok(Self {
            name,
            _channel: channel,
        })
    }

    /// The queue's name, to put in `reply_to`.
    pub(super) fn name(&self) -> &str {
        &self.name
    }
}

async fn route(
    mut deliveries: mpsc::UnboundedReceiver<amqprs::channel::ConsumerMessage>,
    mut events: mpsc::UnboundedReceiver<ChannelEvent>,
    pending: Arc<PendingCalls>,
) {
    loop {
        tokio::select! {
            delivery = deliveries.recv() => {
                let Some(delivery) = delivery else { break };
                let (Some(props), Some(body)) = (delivery.basic_properties, delivery.content) else {
                    continue;
                };
                pending.deliver(from_delivery(&props, body));
            }
            Some(event) = events.recv() => {
                if let ChannelEvent::Closed { code, text } = event {
                    tracing::warn!(code, %text, "reply channel closed by the broker");
                    break;
                }
            }
        }
    }
    pending.fail_all(&RpcError::Connection(
        "the reply queue's channel closed".into(),
    ));
}
