//! Publishing with publisher confirms: casts, and the requests of calls.
//!
//! amqprs's `basic_publish` returns once the frame is queued; confirms come
//! later through the channel callback, numbered by delivery tag (1, 2, 3, ...
//! in publish order). A caller numbers its publish and hands it to amqprs
//! under one async lock, so tags follow the order on the wire. A cast then
//! waits for its confirm on a oneshot (as long as its deadline allows); a
//! call does not wait, but a refused request fails its call at once through
//! the pending table instead of letting it wait for its timeout. A task
//! settles the publishes as `basic.ack` / `basic.nack` arrive (honouring
//! `multiple`), and reports each to the session's [`Health`]: a long run of
//! refusals condemns the session. A mandatory message the broker could not
//! route comes back as `basic.return` *before* its ack; the task finds it by
//! the message id stamped on it (the tag) and fails it with
//! [`RpcError::Undeliverable`].
//!
//! When the broker closes the channel (a publish to a vanished exchange, a
//! refused message), what was unconfirmed fails and publishing carries on
//! on a new channel.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use amqprs::channel::BasicPublishArguments;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tokio_util::sync::{CancellationToken, DropGuard};

use super::admin::Admin;
use super::callback::ChannelEvent;
use super::health::Health;
use super::props::{short, to_properties};
use super::shield::{Chan, Link};
use crate::error::RpcError;
use crate::message::Message;
use crate::transport::driver::{CallId, Events};

/// Who learns how a publish was settled.
pub(super) enum Notify {
    /// A cast waiting for its confirm.
    Wait(oneshot::Sender<Result<(), RpcError>>),
    /// A call's request: only a failure is passed on, to that call.
    Call(CallId, Events),
}

impl Notify {
    fn send(self, result: Result<(), RpcError>) {
        match self {
            Notify::Wait(done) => {
                let _ = done.send(result);
            }
            Notify::Call(call, events) => {
                if let Err(error) = result {
                    events.refused(call, error);
                }
            }
        }
    }
}

/// A publish the broker has not confirmed yet.
struct Unconfirmed {
    exchange: String,
    routing_key: String,
    done: Notify,
    returned: bool,
    /// The routing key names a queue: if the message comes back, ask
    /// whether that queue is missing or only unavailable.
    names_queue: bool,
    sent: Instant,
}

impl Unconfirmed {
    /// Passes the outcome on; a returned message whose queue may exist is
    /// first explained by `admin` (off this task: it asks the broker).
    fn finish(self, result: Result<(), RpcError>, admin: Option<&Arc<Admin>>) {
        match (result, admin) {
            (Err(error @ RpcError::Undeliverable { .. }), Some(admin)) if self.names_queue => {
                let admin = Arc::clone(admin);
                tokio::spawn(async move {
                    let error = admin.explain(error).await;
                    self.done.send(Err(error));
                });
            }
            (result, _) => self.done.send(result),
        }
    }
}

/// The channel and the next delivery tag on it, locked across a publish.
struct Line {
    channel: Chan,
    next_tag: u64,
}

/// What callers and the settling task share.
#[derive(Default)]
struct Confirms {
    unconfirmed: BTreeMap<u64, Unconfirmed>,
    /// Why publishing fails until a new channel is open.
    broken: Option<RpcError>,
}

struct Shared {
    line: tokio::sync::Mutex<Line>,
    admin: Option<Arc<Admin>>,
    confirms: Mutex<Confirms>,
    events: mpsc::UnboundedSender<ChannelEvent>,
    /// Stops the settling task when the last handle goes.
    _stop: DropGuard,
}

impl Shared {
    fn confirms(&self) -> std::sync::MutexGuard<'_, Confirms> {
        self.confirms.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The handle callers publish through.
#[derive(Clone)]
pub(super) struct Publisher {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Publisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Publisher").finish_non_exhaustive()
    }
}

impl Publisher {
    /// Opens a confirm-mode channel on `link` and starts settling its
    /// confirms.
    pub(super) async fn open(link: &Link, admin: Option<Arc<Admin>>) -> Result<Self, RpcError> {
        let (events, events_rx) = mpsc::unbounded_channel();
        let channel = open_confirm_channel(link, &events).await?;
        let stop = CancellationToken::new();
        let shared = Arc::new(Shared {
            line: tokio::sync::Mutex::new(Line {
                channel,
                next_tag: 1,
            }),
            admin,
            confirms: Mutex::default(),
            events,
            _stop: stop.clone().drop_guard(),
        });
        tokio::spawn(settle_events(
            link.clone(),
            Arc::downgrade(&shared),
            events_rx,
            stop,
        ));
        Ok(Self { shared })
    }

    /// Publishes `message` (mandatory); `done` learns how the broker
    /// settled it. `names_queue`: the routing key is a queue's name.
    pub(super) async fn publish(
        &self,
        exchange: &str,
        routing_key: &str,
        message: Message,
        done: Notify,
        names_queue: bool,
    ) -> Result<(), RpcError> {
        let mut args = BasicPublishArguments::new(
            short("exchange", exchange)?,
            short("routing key", routing_key)?,
        );
        args.mandatory(true);
        let mut properties = to_properties(&message)?;
        {
            let line = self.shared.line.lock().await;
            let tag = line.next_tag;
            {
                let mut confirms = self.shared.confirms();
                if let Some(error) = &confirms.broken {
                    return Err(error.clone());
                }
                let entry = Unconfirmed {
                    exchange: exchange.to_owned(),
                    routing_key: routing_key.to_owned(),
                    done,
                    returned: false,
                    names_queue,
                    sent: Instant::now(),
                };
                confirms.unconfirmed.insert(tag, entry);
            }
            let mut numbered = Numbered {
                line,
                shared: &self.shared,
                tag,
                sent: false,
            };
            numbered.line.next_tag += 1;
            properties.with_message_id(&tag.to_string());
            let sent = numbered
                .line
                .channel
                .publish(properties, message.body, args)
                .await;
            // A failed send sent nothing either: the guard gives the tag back.
            numbered.sent = sent.is_ok();
            if let Err(error) = sent {
                // The channel is unusable: fail this publish and the ones
                // after it until the settling task has a new channel.
                self.shared.confirms().broken = Some(error.clone());
                return Err(error);
            }
        }
        Ok(())
    }

    /// Since when the oldest publish waits for its confirm, if one does.
    pub(super) fn oldest_unconfirmed(&self) -> Option<Instant> {
        let confirms = self.shared.confirms();
        confirms.unconfirmed.values().next().map(|entry| entry.sent)
    }

    /// Fails everything unconfirmed and every later publish (the connection
    /// is gone).
    pub(super) fn fail(&self, reason: &str) {
        let _ = self.shared.events.send(ChannelEvent::Closed {
            code: 0,
            text: reason.to_owned(),
        });
    }
}

/// A delivery tag taken, with the channel still locked. If amqprs did not
/// take the frame (the send failed, or the caller's future was dropped
/// first: the send is cancel-safe, a dropped send sent nothing), the tag is
/// given back, so later tags still match the broker's count.
struct Numbered<'a> {
    line: tokio::sync::MutexGuard<'a, Line>,
    shared: &'a Shared,
    tag: u64,
    sent: bool,
}

impl Drop for Numbered<'_> {
    fn drop(&mut self) {
        if !self.sent {
            self.line.next_tag = self.tag;
            self.shared.confirms().unconfirmed.remove(&self.tag);
        }
    }
}

/// Opens a channel in confirm mode whose callback events go to `events`.
async fn open_confirm_channel(
    link: &Link,
    events: &mpsc::UnboundedSender<ChannelEvent>,
) -> Result<Chan, RpcError> {
    let channel = link.channel_to(events.clone()).await?;
    channel.confirm_select().await?;
    Ok(channel)
}

/// Settles publishes as the broker's events arrive; after a channel error,
/// opens a new channel (whose delivery tags restart at 1).
async fn settle_events(
    link: Link,
    shared: std::sync::Weak<Shared>,
    mut events: mpsc::UnboundedReceiver<ChannelEvent>,
    stop: CancellationToken,
) {
    loop {
        let event = tokio::select! {
            () = stop.cancelled() => return,
            event = events.recv() => match event {
                Some(event) => event,
                None => return,
            },
        };
        let Some(shared) = shared.upgrade() else {
            return;
        };
        let outcome = {
            let mut confirms = shared.confirms();
            let outcome = settle(
                &mut confirms.unconfirmed,
                event,
                link.health(),
                shared.admin.as_ref(),
            );
            if let Some((error, _)) = &outcome {
                confirms.broken = Some(error.clone());
            }
            outcome
        };
        let Some((error, channel_only)) = outcome else {
            continue;
        };
        tracing::warn!(%error, "publishing channel closed");
        // A channel error (404 on a vanished exchange, a refused message,
        // ...) leaves the connection usable: start over on a new channel.
        if channel_only {
            let mut line = shared.line.lock().await;
            if let Ok(channel) = open_confirm_channel(&link, &shared.events).await {
                *line = Line {
                    channel,
                    next_tag: 1,
                };
                shared.confirms().broken = None;
            }
        }
    }
}

/// Applies one broker event; returns the error that closed the channel, if
/// any, and whether only the channel (not the connection) is gone.
fn settle(
    unconfirmed: &mut BTreeMap<u64, Unconfirmed>,
    event: ChannelEvent,
    health: &Health,
    admin: Option<&Arc<Admin>>,
) -> Option<(RpcError, bool)> {
    match event {
        ChannelEvent::Ack { tag, multiple } => {
            health.acked();
            for (_, entry) in take(unconfirmed, tag, multiple) {
                let result = if entry.returned {
                    Err(RpcError::Undeliverable {
                        exchange: entry.exchange.clone(),
                        routing_key: entry.routing_key.clone(),
                    })
                } else {
                    Ok(())
                };
                entry.finish(result, admin);
            }
            None
        }
        ChannelEvent::Nack { tag, multiple } => {
            let refused = take(unconfirmed, tag, multiple);
            health.nacked(refused.len().max(1));
            for (_, entry) in refused {
                let refused = RpcError::Refused {
                    exchange: entry.exchange.clone(),
                    routing_key: entry.routing_key.clone(),
                };
                entry.finish(Err(refused), None);
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
                        exchange: entry.exchange.clone(),
                        routing_key: entry.routing_key.clone(),
                    }
                } else {
                    error.clone()
                };
                entry.finish(Err(result), None);
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
            done: Notify::Wait(done),
            returned: false,
            names_queue: false,
            sent: Instant::now(),
        };
        (entry, rx)
    }

    #[tokio::test]
    async fn multiple_acks_settle_every_tag_up_to_theirs() {
        let health = Health::new(2047);
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
                routing_key: "k".into(),
            },
            &health,
            None,
        );
        settle(
            &mut map,
            ChannelEvent::Ack {
                tag: 3,
                multiple: true,
            },
            &health,
            None,
        );
        settle(
            &mut map,
            ChannelEvent::Nack {
                tag: 4,
                multiple: false,
            },
            &health,
            None,
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
        assert!(!health.is_condemned(), "one refusal condemns nothing");
    }

    #[tokio::test]
    async fn a_refused_request_fails_its_call_at_once() {
        let health = Health::new(2047);
        let wire = crate::wire::Wire::Native.format(1024);
        let (events, hub) = crate::transport::Transport::events(wire);
        let mut call = hub.pending.register();
        let mut map = BTreeMap::new();
        map.insert(
            1,
            Unconfirmed {
                exchange: "x".into(),
                routing_key: "k".into(),
                done: Notify::Call(CallId(call.id()), events),
                returned: false,
                names_queue: false,
                sent: Instant::now(),
            },
        );
        let nack = ChannelEvent::Nack {
            tag: 1,
            multiple: false,
        };
        settle(&mut map, nack, &health, None);
        assert!(matches!(call.next().await, Err(RpcError::Refused { .. })));
    }
}
