//! Consuming queues on one channel and moving the deliveries, with the means
//! to ack them, to the server or listener that reads them.

use amqprs::channel::{
    BasicAckArguments, BasicConsumeArguments, BasicQosArguments, Channel, ConsumerMessage,
};
use amqprs::connection::Connection;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::callback::{ChannelEvent, open_channel};
use super::props::from_delivery;
use crate::error::RpcError;
use crate::transport::{Acker, BoxFuture, Delivery};

/// Consumers on one channel.
pub(super) struct Consumer {
    channel: Channel,
    events: mpsc::UnboundedReceiver<ChannelEvent>,
    streams: Vec<(
        std::sync::Arc<str>,
        mpsc::UnboundedReceiver<ConsumerMessage>,
    )>,
}

/// Why a consumer stopped.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Ended {
    /// Asked to stop, or nobody reads the deliveries any more.
    Stopped,
    /// The channel or connection went away, or the broker cancelled a
    /// consumer (its queue was deleted): consume again.
    Lost,
}

impl Consumer {
    /// Opens a channel for consuming with `prefetch` unacked deliveries.
    pub(super) async fn channel(
        connection: &Connection,
        prefetch: u16,
    ) -> Result<(Channel, mpsc::UnboundedReceiver<ChannelEvent>), RpcError> {
        let (channel, events) = open_channel(connection).await?;
        channel
            .basic_qos(BasicQosArguments::new(0, prefetch, false))
            .await
            .map_err(RpcError::connection)?;
        Ok((channel, events))
    }

    /// Starts consuming `queues` on an open channel.
    pub(super) async fn on(
        channel: Channel,
        events: mpsc::UnboundedReceiver<ChannelEvent>,
        queues: &[String],
    ) -> Result<Self, RpcError> {
        let mut streams = Vec::new();
        for queue in queues {
            let tag = uuid::Uuid::new_v4().simple().to_string();
            let args = BasicConsumeArguments::new(queue, &tag)
                .manual_ack(true)
                .finish();
            let (_tag, rx) = channel
                .basic_consume_rx(args)
                .await
                .map_err(|e| RpcError::Connection(format!("consuming `{queue}` failed: {e}")))?;
            streams.push((std::sync::Arc::from(queue.as_str()), rx));
        }
        Ok(Self {
            channel,
            events,
            streams,
        })
    }

    /// Moves deliveries to `to` until stopped or lost; closes the channel.
    pub(super) async fn pump(self, to: &mpsc::Sender<Delivery>, stop: &CancellationToken) -> Ended {
        let Consumer {
            channel,
            mut events,
            streams,
        } = self;
        let (merged_tx, mut merged) = mpsc::unbounded_channel();
        for (queue, mut stream) in streams {
            let merged_tx = merged_tx.clone();
            tokio::spawn(async move {
                while let Some(message) = stream.recv().await {
                    if merged_tx
                        .send((std::sync::Arc::clone(&queue), message))
                        .is_err()
                    {
                        break;
                    }
                }
            });
        }
        drop(merged_tx);
        let ended = loop {
            tokio::select! {
                () = stop.cancelled() => break Ended::Stopped,
                message = merged.recv() => {
                    let Some((queue, message)) = message else { break Ended::Lost };
                    let Some(delivery) = to_delivery(&channel, queue, message) else { continue };
                    if to.send(delivery).await.is_err() {
                        break Ended::Stopped;
                    }
                }
                Some(event) = events.recv() => match event {
                    ChannelEvent::Closed { code, text } => {
                        tracing::warn!(code, %text, "the broker closed a consuming channel; consuming again");
                        break Ended::Lost;
                    }
                    ChannelEvent::Cancelled { consumer_tag } => {
                        tracing::warn!(%consumer_tag, "the broker cancelled a consumer; consuming again");
                        break Ended::Lost;
                    }
                    _ => {}
                },
            }
        };
        if channel.is_open() {
            let _ = channel.close().await;
        }
        ended
    }
}

fn to_delivery(
    channel: &Channel,
    queue: std::sync::Arc<str>,
    message: ConsumerMessage,
) -> Option<Delivery> {
    let deliver = message.deliver?;
    let props = message.basic_properties?;
    let body = message.content.unwrap_or_default();
    Some(Delivery {
        queue,
        redelivered: deliver.redelivered(),
        message: from_delivery(&props, body),
        acker: Box::new(AmqpAcker {
            channel: channel.clone(),
            tag: deliver.delivery_tag(),
        }),
    })
}

struct AmqpAcker {
    channel: Channel,
    tag: u64,
}

impl Acker for AmqpAcker {
    fn ack(self: Box<Self>) -> BoxFuture<'static, Result<(), RpcError>> {
        Box::pin(async move {
            self.channel
                .basic_ack(BasicAckArguments::new(self.tag, false))
                .await
                .map_err(RpcError::connection)
        })
    }
}
