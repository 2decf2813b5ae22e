//! Taking the redelivered messages off a queue's head before consuming it,
//! so that a poison message cannot keep a server off the broker.
//!
//! amqprs drops its whole connection when a delivery's properties cannot be
//! decoded (a string that is not UTF-8, say). The message is never acked, so
//! the broker puts it back at the head of its queue, marked redelivered,
//! and hands it to the next consumer, which loses its connection the same
//! way: one such message would silence every server of a topic, forever.
//!
//! So before a subscription (re)consumes a queue holding messages, it takes
//! those at the head that the broker marks as redelivered, one at a time
//! (`basic.get` without ack, which settles a message as the broker sends
//! it), on a connection of its own: a message that kills that connection
//! is settled and gone (and logged); the others are handed to the reader as
//! if delivered, already settled (acked on receipt). The first message not
//! redelivered, or an empty queue, ends the drain. A poison message thus
//! costs the serving session one connection loss, never a second.

use std::sync::Arc;

use tokio::sync::mpsc;

use super::config::AmqpConfig;
use super::props::from_delivery;
use super::session::{self, Session};
use super::shield::{Chan, Link};
use crate::error::RpcError;
use crate::transport::driver::{Acker, Delivery};

/// How many connections a drain may lose to poison messages before it
/// stops and lets the consumer take its chances.
const MAX_POISONED: usize = 3;

/// Drains the redelivered head of each queue that holds messages (`queues`:
/// name and ready count), taking at most `limit` messages from each.
pub(super) async fn drain(
    config: &AmqpConfig,
    session: &Session,
    queues: &[(String, u32)],
    limit: usize,
    to: &mpsc::Sender<Delivery>,
) {
    let mut side: Option<(Link, Chan)> = None;
    let mut poisoned = 0;
    for (queue, _) in queues.iter().filter(|(_, ready)| *ready > 0) {
        let mut taken = 0;
        while taken < limit {
            let channel = match &side {
                Some((_, channel)) => channel.clone(),
                None => match open(config, session).await {
                    Ok(opened) => side.insert(opened).1.clone(),
                    Err(error) => {
                        tracing::warn!(%error, "could not open a connection to take redelivered messages; consuming at once");
                        return;
                    }
                },
            };
            match channel.get(queue).await {
                Ok(None) => break,
                Ok(Some((got, properties, body))) => {
                    let redelivered = got.redelivered();
                    let delivery = Delivery::new(
                        Arc::from(queue.as_str()),
                        redelivered,
                        from_delivery(&properties, body),
                        Acker::settled(),
                    );
                    if to.send(delivery).await.is_err() || !redelivered {
                        break;
                    }
                    taken += 1;
                }
                Err(error) => {
                    let Some((link, _)) = side.take() else { break };
                    let died = !link.is_open() || !link.reader_alive().await;
                    link.close();
                    if !died {
                        tracing::warn!(%queue, %error, "could not take redelivered messages; consuming at once");
                        break;
                    }
                    poisoned += 1;
                    tracing::error!(%queue, "dropped a message whose properties the AMQP client cannot read: it closed the connection that took it (settled on taking, it is gone)");
                    if poisoned >= MAX_POISONED {
                        return;
                    }
                }
            }
        }
    }
    if let Some((link, _)) = side {
        link.close_now().await;
    }
}

async fn open(config: &AmqpConfig, session: &Session) -> Result<(Link, Chan), RpcError> {
    let link = session::connect(config, &session.endpoint).await?;
    match link.channel().await {
        Ok((channel, _events)) => Ok((link, channel)),
        Err(error) => {
            link.close();
            Err(error)
        }
    }
}
