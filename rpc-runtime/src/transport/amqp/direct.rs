//! Publishing without confirms, straight from the caller's task: a
//! server's replies and call-monitor heartbeats. Nobody could act on a
//! reply's confirm, so it skips the confirm round and the settling task. It
//! is still published `mandatory`: a returned reply (its caller's queue is
//! gone) is logged.

use std::sync::{Arc, RwLock};

use amqprs::channel::BasicPublishArguments;
use tokio::sync::mpsc;

use super::callback::ChannelEvent;
use super::props::{short, to_properties};
use super::shield::{Chan, Link};
use crate::error::RpcError;
use crate::message::Message;

/// A channel for unconfirmed, mandatory publishes, reopened when the broker
/// closes it.
#[derive(Clone)]
pub(super) struct DirectPublisher {
    channel: Arc<RwLock<Chan>>,
}

impl DirectPublisher {
    /// Opens the channel.
    pub(super) async fn open(link: &Link) -> Result<Self, RpcError> {
        let (channel, events) = link.channel().await?;
        let publisher = Self {
            channel: Arc::new(RwLock::new(channel)),
        };
        tokio::spawn(watch(
            link.clone(),
            Arc::downgrade(&publisher.channel),
            events,
        ));
        Ok(publisher)
    }

    /// Hands the message to the connection (no confirm is awaited).
    pub(super) async fn publish(
        &self,
        exchange: &str,
        routing_key: &str,
        message: Message,
    ) -> Result<(), RpcError> {
        let mut args = BasicPublishArguments::new(
            short("exchange", exchange)?,
            short("routing key", routing_key)?,
        );
        args.mandatory(true);
        let properties = to_properties(&message)?;
        let channel = self
            .channel
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        channel.publish(properties, message.body, args).await
    }
}

/// Logs returned replies; reopens the channel after a channel error.
async fn watch(
    link: Link,
    channel: std::sync::Weak<RwLock<Chan>>,
    mut events: mpsc::UnboundedReceiver<ChannelEvent>,
) {
    while let Some(event) = events.recv().await {
        match event {
            ChannelEvent::Return { routing_key, .. } => {
                tracing::debug!(reply_to = %routing_key, "a reply was returned: its caller's queue is gone");
            }
            ChannelEvent::Closed { code, text } => {
                tracing::warn!(code, %text, "the broker closed the reply channel; reopening it");
                let Some(slot) = channel.upgrade() else {
                    return;
                };
                match link.channel().await {
                    Ok((fresh, fresh_events)) => {
                        *slot.write().unwrap_or_else(|p| p.into_inner()) = fresh;
                        events = fresh_events;
                    }
                    Err(_) => return,
                }
            }
            _ => {}
        }
    }
}
