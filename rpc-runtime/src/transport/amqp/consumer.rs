//! Consuming queues on one channel and moving the deliveries, with the means
//! to ack them, straight from amqprs's consumer tasks to the server or
//! listener that reads them.

use std::sync::Arc;

use amqprs::channel::{BasicConsumeArguments, Channel};
use amqprs::consumer::AsyncConsumer;
use amqprs::{BasicProperties, Deliver};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::callback::ChannelEvent;
use super::props::from_delivery;
use super::shield::{Chan, Link};
use crate::error::RpcError;
use crate::future::BoxFuture;
use crate::transport::driver::{Acker, Delivery};

/// Consumers on one channel.
pub(super) struct Consumer {
    channel: Chan,
    events: mpsc::UnboundedReceiver<ChannelEvent>,
    /// Ends (`None`) once amqprs dropped every consumer of the channel: the
    /// channel or the connection is gone.
    alive: mpsc::UnboundedReceiver<()>,
    /// The consumer tags, one per queue.
    tags: Vec<String>,
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
        link: &Link,
        prefetch: u16,
    ) -> Result<(Chan, mpsc::UnboundedReceiver<ChannelEvent>), RpcError> {
        let (channel, events) = link.channel().await?;
        channel.qos(prefetch).await?;
        Ok((channel, events))
    }

    /// Starts consuming `queues` on an open channel; deliveries go to `to`.
    pub(super) async fn on(
        channel: Chan,
        events: mpsc::UnboundedReceiver<ChannelEvent>,
        queues: &[String],
        to: &mpsc::Sender<Delivery>,
    ) -> Result<Self, RpcError> {
        let (alive_tx, alive) = mpsc::unbounded_channel();
        let mut tags = Vec::with_capacity(queues.len());
        for queue in queues {
            let tag = uuid::Uuid::new_v4().simple().to_string();
            tags.push(tag.clone());
            let args = BasicConsumeArguments::new(queue, &tag)
                .manual_ack(true)
                .finish();
            let forward = Forward {
                queue: Arc::from(queue.as_str()),
                channel: channel.clone(),
                to: to.clone(),
                _alive: alive_tx.clone(),
            };
            channel.consume(forward, args).await?;
        }
        Ok(Self {
            channel,
            events,
            alive,
            tags,
        })
    }

    /// Waits until stopped or lost (`gone`: a queue was found missing);
    /// then closes the channel, except after a queue was deleted (the
    /// broker cancelled its consumer, or `gone`): the deliveries already
    /// taken from it can then only be acked on this channel, so the other
    /// consumers are cancelled and the channel closes once the last
    /// delivery's acker is gone. When stopped, returns once the channel is
    /// closed (its unacked deliveries back in their queues).
    pub(super) async fn pump(self, stop: &CancellationToken, gone: &CancellationToken) -> Ended {
        let Consumer {
            channel,
            mut events,
            mut alive,
            tags,
        } = self;
        let ended = loop {
            tokio::select! {
                () = stop.cancelled() => break Ended::Stopped,
                _ = alive.recv() => break Ended::Lost,
                // A queue vanished without the broker cancelling its consumer.
                () = gone.cancelled() => {
                    for tag in &tags {
                        channel.cancel(tag);
                    }
                    return Ended::Lost;
                }
                Some(event) = events.recv() => match event {
                    ChannelEvent::Closed { code, text } => {
                        tracing::warn!(code, %text, "the broker closed a consuming channel; consuming again");
                        break Ended::Lost;
                    }
                    ChannelEvent::Cancelled { consumer_tag } => {
                        tracing::warn!(%consumer_tag, "the broker cancelled a consumer; consuming again");
                        for tag in tags.iter().filter(|t| **t != consumer_tag) {
                            channel.cancel(tag);
                        }
                        return Ended::Lost;
                    }
                    _ => {}
                },
            }
        };
        if ended == Ended::Stopped {
            channel.close_now().await;
        } else {
            channel.close();
        }
        ended
    }
}

/// One queue's consumer: hands each delivery to the reader.
struct Forward {
    queue: Arc<str>,
    channel: Chan,
    to: mpsc::Sender<Delivery>,
    /// Dropped with the consumer (see [`Consumer::alive`]).
    _alive: mpsc::UnboundedSender<()>,
}

#[async_trait::async_trait]
impl AsyncConsumer for Forward {
    async fn consume(
        &mut self,
        _channel: &Channel,
        deliver: Deliver,
        properties: BasicProperties,
        content: Vec<u8>,
    ) {
        let acker = Box::new(AmqpAcker {
            channel: self.channel.clone(),
            tag: deliver.delivery_tag(),
        });
        let message = from_delivery(&properties, content);
        let delivery = Delivery::new(
            Arc::clone(&self.queue),
            deliver.redelivered(),
            message,
            acker,
        );
        // A closed reader is stopping the subscription, which closes the
        // channel; the unacked delivery goes back to the queue.
        let _ = self.to.send(delivery).await;
    }
}

struct AmqpAcker {
    channel: Chan,
    tag: u64,
}

impl Acker for AmqpAcker {
    fn ack(self: Box<Self>) -> BoxFuture<'static, Result<(), RpcError>> {
        Box::pin(async move { self.channel.ack(self.tag).await })
    }
}
