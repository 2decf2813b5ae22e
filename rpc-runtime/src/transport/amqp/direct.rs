//! Publishing without confirms, straight from the caller's task: call
//! requests and replies. A call does not need the broker's confirm (its
//! reply says more), so it skips the confirm round and the publishing task;
//! it is still published `mandatory`, and a returned request fails its
//! call at once through the pending table. A returned reply (its caller's
//! queue is gone) is only logged.

use std::sync::{Arc, RwLock};

use amqprs::channel::{BasicPublishArguments, Channel};
use amqprs::connection::Connection;
use tokio::sync::mpsc;

use super::callback::{ChannelEvent, open_channel};
use super::props::{short, to_properties};
use crate::error::RpcError;
use crate::message::Message;
use crate::pending::PendingCalls;

/// A channel for unconfirmed, mandatory publishes, reopened when the broker
/// closes it.
#[derive(Clone)]
pub(super) struct DirectPublisher {
    channel: Arc<RwLock<Channel>>,
}

impl DirectPublisher {
    /// Opens the channel; returned requests fail their call in `pending`.
    pub(super) async fn open(
        connection: &Connection,
        pending: &Arc<PendingCalls>,
    ) -> Result<Self, RpcError> {
        let (channel, events) = open_channel(connection).await?;
        let publisher = Self {
            channel: Arc::new(RwLock::new(channel)),
        };
        tokio::spawn(watch(
            connection.clone(),
            Arc::downgrade(&publisher.channel),
            events,
            Arc::clone(pending),
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
        channel
            .basic_publish(properties, message.body, args)
            .await
            .map_err(RpcError::connection)
    }
}

/// Fails returned calls; reopens the channel after a channel error.
async fn watch(
    connection: Connection,
    channel: std::sync::Weak<RwLock<Channel>>,
    mut events: mpsc::UnboundedReceiver<ChannelEvent>,
    pending: Arc<PendingCalls>,
) {
    while let Some(event) = events.recv().await {
        match event {
            ChannelEvent::Return {
                correlation_id,
                exchange,
                routing_key,
                ..
            } => {
                let error = RpcError::Undeliverable {
                    exchange,
                    routing_key,
                };
                let failed =
                    correlation_id.is_some_and(|id| pending.complete(&id, Err(error.clone())));
                if !failed {
                    tracing::debug!(%error, "a reply was returned: its caller is gone");
                }
            }
            ChannelEvent::Closed { code, text } => {
                tracing::warn!(code, %text, "the broker closed the direct publishing channel; reopening it");
                let Some(slot) = channel.upgrade() else {
                    return;
                };
                match open_channel(&connection).await {
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
