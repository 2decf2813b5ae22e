//! Publishing with publisher confirms, as one task per channel.
//!
//! amqprs's `basic_publish` returns once the frame is queued; confirms come
//! later through the channel callback, numbered by delivery tag (1, 2, 3, ...
//! in publish order). One task owns the channel: it numbers each publish,
//! remembers who waits for which tag, and settles them as `basic.ack` /
//! `basic.nack` arrive (honouring `multiple`). A mandatory message the broker
//! could not route comes back as `basic.return` *before* its ack; the task
//! finds it by the message id it stamped on it and fails that publish with
//! [`RpcError::Undeliverable`].
//!
//! No lock is shared with callers: they send a command and await a oneshot.
//! When the broker closes the channel (a publish to a vanished exchange, a
//! refused message), what was unconfirmed fails and the task carries on on
//! a new channel.

use std::collections::BTreeMap;

use amqprs::channel::{BasicPublishArguments, Channel, ConfirmSelectArguments};
use amqprs::connection::Connection;
use tokio::sync::{mpsc, oneshot};

use super::callback::{ChannelEvent, open_channel_to};
use super::props::{short, to_properties};
use crate::error::RpcError;
use crate::message::Message;

/// How many publishes may queue up for the publishing task.
const COMMAND_QUEUE: usize = 4096;

struct Publish {
    exchange: String,
    routing_key: String,
    message: Message,
    mandatory: bool,
    done: oneshot::Sender<Result<(), RpcError>>,
}

/// A publish the broker has not confirmed yet.
struct Unconfirmed {
    exchange: String,
    routing_key: String,
    done: oneshot::Sender<Result<(), RpcError>>,
    returned: bool,
}

/// The handle callers publish through.
#[derive(Debug, Clone)]
pub(super) struct Publisher {
    commands: mpsc::Sender<Publish>,
    events: mpsc::UnboundedSender<ChannelEvent>,
}

impl Publisher {
    /// Opens a confirm-mode channel on `connection` and starts its task.
    pub(super) async fn open(connection: &Connection) -> Result<Self, RpcError> {
        let (events, events_rx) = mpsc::unbounded_channel();
        let channel = open_confirm_channel(connection, &events).await?;
        let (commands, commands_rx) = mpsc::channel(COMMAND_QUEUE);
        let task = Task {
            connection: connection.clone(),
            channel,
            events: events.clone(),
        };
        tokio::spawn(task.run(commands_rx, events_rx));
        Ok(Self { commands, events })
    }

    /// Publishes `message` and resolves when the broker confirmed it.
    pub(super) async fn publish(
        &self,
        exchange: &str,
        routing_key: &str,
        message: Message,
        mandatory: bool,
    ) -> Result<(), RpcError> {
        short("exchange", exchange)?;
        short("routing key", routing_key)?;
        let (done, confirmed) = oneshot::channel();
        let command = Publish {
            exchange: exchange.to_owned(),
            routing_key: routing_key.to_owned(),
            message,
            mandatory,
            done,
        };
        self.commands
            .send(command)
            .await
            .map_err(|_| RpcError::Closed)?;
        confirmed.await.unwrap_or(Err(RpcError::Closed))
    }

    /// Fails everything unconfirmed and every later publish (the connection
    /// is gone).
    pub(super) fn fail(&self, reason: &str) {
        let _ = self.events.send(ChannelEvent::Closed {
            code: 0,
            text: reason.to_owned(),
        });
    }
}

/// Opens a channel in confirm mode whose callback events go to `events`.
async fn open_confirm_channel(
    connection: &Connection,
    events: &mpsc::UnboundedSender<ChannelEvent>,
) -> Result<Channel, RpcError> {
    let channel = open_channel_to(connection, events.clone()).await?;
    channel
        .confirm_select(ConfirmSelectArguments::new(false))
        .await
        .map_err(RpcError::connection)?;
    Ok(channel)
}

/// The publishing task's state.
struct Task {
    connection: Connection,
    channel: Channel,
    events: mpsc::UnboundedSender<ChannelEvent>,
}

impl Task {
    async fn run(
        mut self,
        mut commands: mpsc::Receiver<Publish>,
        mut events: mpsc::UnboundedReceiver<ChannelEvent>,
    ) {
        let mut next_tag: u64 = 1;
        let mut unconfirmed: BTreeMap<u64, Unconfirmed> = BTreeMap::new();
        let mut broken: Option<RpcError> = None;
        loop {
            tokio::select! {
                biased;
                Some(event) = events.recv() => {
                    let Some((error, channel_only)) = settle(&mut unconfirmed, event) else { continue };
                    tracing::warn!(%error, "publishing channel closed");
                    broken = Some(error);
                    // A channel error (404 on a vanished exchange, a refused
                    // message, ...) leaves the connection usable: start over
                    // on a new channel, whose delivery tags restart at 1.
                    if channel_only {
                        if let Ok(channel) = open_confirm_channel(&self.connection, &self.events).await {
                            self.channel = channel;
                            next_tag = 1;
                            broken = None;
                        }
                    }
                }
                command = commands.recv() => {
                    let Some(command) = command else { break };
                    if let Some(error) = &broken {
                        let _ = command.done.send(Err(error.clone()));
                        continue;
                    }
                    match self.publish(next_tag, command).await {
                        Ok(entry) => {
                            unconfirmed.insert(next_tag, entry);
                            next_tag += 1;
                        }
                        Err(Some(error)) => broken = Some(error),
                        Err(None) => {}
                    }
                }
            }
        }
    }

    /// Publishes with the given tag. `Err(Some(e))`: the channel is unusable.
    async fn publish(&self, tag: u64, command: Publish) -> Result<Unconfirmed, Option<RpcError>> {
        let mut properties = match to_properties(&command.message) {
            Ok(properties) => properties,
            Err(error) => {
                let _ = command.done.send(Err(error));
                return Err(None);
            }
        };
        properties.with_message_id(&tag.to_string());
        let mut args = BasicPublishArguments::new(&command.exchange, &command.routing_key);
        args.mandatory(command.mandatory);
        let body = command.message.body;
        if let Err(error) = self.channel.basic_publish(properties, body, args).await {
            let error = RpcError::connection(error);
            let _ = command.done.send(Err(error.clone()));
            return Err(Some(error));
        }
        Ok(Unconfirmed {
            exchange: command.exchange,
            routing_key: command.routing_key,
            done: command.done,
            returned: false,
        })
    }
}

/// Applies one broker event; returns the error that closed the channel, if
/// any, and whether only the channel (not the connection) is gone.
fn settle(
    unconfirmed: &mut BTreeMap<u64, Unconfirmed>,
    event: ChannelEvent,
) -> Option<(RpcError, bool)> {
    match event {
        ChannelEvent::Ack { tag, multiple } => {
            for (_, entry) in take(unconfirmed, tag, multiple) {
                let result = if entry.returned {
                    Err(RpcError::Undeliverable {
                        exchange: entry.exchange,
                        routing_key: entry.routing_key,
                    })
                } else {
                    Ok(())
                };
                let _ = entry.done.send(result);
            }
            None
        }
        ChannelEvent::Nack { tag, multiple } => {
            for (_, entry) in take(unconfirmed, tag, multiple) {
                let _ = entry.done.send(Err(RpcError::Refused {
                    exchange: entry.exchange,
                    routing_key: entry.routing_key,
                }));
            }
            None
        }
        ChannelEvent::Return { message_id, .. } => {
            let tag = message_id.and_then(|id| id.parse::<u64>().ok());
            if let Some(entry) = tag.and_then(|tag| unconfirmed.get_mut(&tag)) {
                entry.returned = true;
            }
            None
        }
        ChannelEvent::Cancelled { .. } => None,
        ChannelEvent::Closed { code, text } => {
            let error = RpcError::Connection(if code == 0 {
                text.clone()
            } else {
                format!("the broker closed the publishing channel: {code} {text}")
            });
            for (_, entry) in std::mem::take(unconfirmed) {
                // 404 "no exchange 'x'": nobody listens there (a fanout
                // exchange vanishes with the topic's last server).
                let missing = format!("no exchange '{}'", entry.exchange);
                let result = if code == 404 && text.contains(&missing) {
                    RpcError::Undeliverable {
                        exchange: entry.exchange,
                        routing_key: entry.routing_key,
                    }
                } else {
                    error.clone()
                };
                let _ = entry.done.send(Err(result));
            }
            Some((error, code != 0))
        }
    }
}

/// Removes `tag`, or every tag up to it when `multiple`.
fn take(
    unconfirmed: &mut BTreeMap<u64, Unconfirmed>,
    tag: u64,
    multiple: bool,
) -> Vec<(u64, Unconfirmed)> {
    if multiple {
        let rest = unconfirmed.split_off(&(tag + 1));
        std::mem::replace(unconfirmed, rest).into_iter().collect()
    } else {
        unconfirmed
            .remove(&tag)
            .map(|e| vec![(tag, e)])
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry() -> (Unconfirmed, oneshot::Receiver<Result<(), RpcError>>) {
        let (done, rx) = oneshot::channel();
        let entry = Unconfirmed {
            exchange: "x".into(),
            routing_key: "k".into(),
            done,
            returned: false,
        };
        (entry, rx)
    }

    #[test]
    fn multiple_acks_settle_every_tag_up_to_theirs() {
        let mut map = BTreeMap::new();
        let mut receivers = Vec::new();
        for tag in 1..=4 {
            let (e, rx) = entry();
            map.insert(tag, e);
            receivers.push(rx);
        }
        settle(
            &mut map,
            ChannelEvent::Return {
                message_id: Some("2".into()),
                correlation_id: None,
                exchange: "x".into(),
                routing_key: "k".into(),
            },
        );
        settle(
            &mut map,
            ChannelEvent::Ack {
                tag: 3,
                multiple: true,
            },
        );
        settle(
            &mut map,
            ChannelEvent::Nack {
                tag: 4,
                multiple: false,
            },
        );
        let results: Vec<_> = receivers
            .into_iter()
            .map(|mut rx| rx.try_recv().unwrap())
            .collect();
        assert_eq!(results[0], Ok(()));
        assert!(matches!(results[1], Err(RpcError::Undeliverable { .. })));
        assert_eq!(results[2], Ok(()));
        assert!(matches!(results[3], Err(RpcError::Refused { .. })));
        assert!(map.is_empty());
    }
}
