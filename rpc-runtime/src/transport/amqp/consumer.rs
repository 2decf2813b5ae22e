//! Consuming queues on one channel, and noticing when that consumer is
//! lost. The deliveries are read by the listener itself ([`super::incoming`]).

use std::sync::Arc;

use amqprs::channel::BasicConsumeArguments;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::callback::{ChannelEvent, close_reason};
use super::incoming::Fed;
use super::limits::Limits;
use super::refusal::{Identity, explained};
use super::shield::{Chan, Link};
use crate::error::RpcError;

/// Consumers on one channel.
pub(super) struct Consumer {
    channel: Chan,
    events: mpsc::UnboundedReceiver<ChannelEvent>,
    /// Ends (`None`) once the listener saw every queue's deliveries end
    /// (amqprs dropped the channel's consumers: the channel or the
    /// connection is gone) or the listener is gone.
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

    /// Starts consuming `queues` on an open channel; returns the consumer
    /// and the queues' deliveries, for the listener to read.
    pub(super) async fn on(
        channel: Chan,
        events: mpsc::UnboundedReceiver<ChannelEvent>,
        queues: &[String],
        limits: &Arc<Limits>,
        who: &Identity,
    ) -> Result<(Self, Vec<Fed>), RpcError> {
        let mut events = events;
        let (alive_tx, alive) = mpsc::unbounded_channel();
        let mut tags = Vec::with_capacity(queues.len());
        let mut fed = Vec::with_capacity(queues.len());
        for queue in queues {
            let tag = uuid::Uuid::new_v4().simple().to_string();
            tags.push(tag.clone());
            let args = BasicConsumeArguments::new(queue, &tag)
                .manual_ack(true)
                .finish();
            let deliveries = match channel.consume_rx(args).await {
                Ok(deliveries) => deliveries,
                Err(error) => {
                    return Err(explained(error, close_reason(&mut events).as_deref(), who));
                }
            };
            fed.push(Fed::new(
                Arc::from(queue.as_str()),
                channel.clone(),
                deliveries,
                alive_tx.clone(),
                Arc::clone(limits),
            ));
        }
        let consumer = Self {
            channel,
            events,
            alive,
            tags,
        };
        Ok((consumer, fed))
    }

    /// Waits until stopped or lost (`gone`: a queue was found missing);
    /// then closes the channel, except after a queue was deleted (the
    /// broker cancelled its consumer, or `gone`): the deliveries already
    /// taken from it can then only be acked on this channel, so the other
    /// consumers are cancelled and the channel closes once the last
    /// delivery's acker is gone. When stopped, returns once the channel is
    /// closed (its unacked deliveries back in their queues).
    pub(super) async fn pump(
        self,
        stop: &CancellationToken,
        gone: &CancellationToken,
        limits: &Limits,
    ) -> Ended {
        let Consumer {
            channel,
            mut events,
            mut alive,
            tags,
        } = self;
        let ended = loop {
            tokio::select! {
                // A listener dropped stops first, then lets its deliveries go.
                biased;
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
                        if limits.learn(code, &text) {
                            tracing::warn!(code, %text, "the broker took back deliveries left unacked past its consumer_timeout; they come again (those already running are not run twice); consuming again");
                        } else {
                            tracing::warn!(code, %text, "the broker closed a consuming channel; consuming again");
                        }
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
