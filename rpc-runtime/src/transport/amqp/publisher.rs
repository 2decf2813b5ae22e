//! Publishing with publisher confirms: casts, and the requests of calls.
//!
//! amqprs's `basic_publish` returns once the frame is queued; confirms come
//! later through the channel callback, numbered by delivery tag (1, 2, 3, ...
//! in publish order). A caller numbers its publish and hands it to amqprs
//! under one async lock, so tags follow the order on the wire. A cast then
//! waits for its confirm on a oneshot (as long as its deadline allows); a
//! call does not wait, but a refused request fails its call at once through
//! the pending table instead of letting it wait for its timeout. The
//! channel's callback settles the publishes as `basic.ack` / `basic.nack`
//! arrive (honouring `multiple`; no task is woken per confirm), and reports
//! each to the session's [`Health`]: a long run of refusals condemns the
//! session. A mandatory message the broker could not route comes back as
//! `basic.return` *before* its ack; it is found by the message id stamped
//! on it (the channel's random nonce and the tag, unique: a server also
//! knows a cast delivered twice by it) and failed with
//! [`RpcError::Undeliverable`].
//!
//! When the broker closes the channel (a publish to a vanished exchange, a
//! refused message), what was unconfirmed fails and publishing carries on
//! on a new channel.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use amqprs::channel::BasicPublishArguments;
use tokio::sync::{Semaphore, mpsc};
use tokio::time::Instant;
use tokio_util::sync::{CancellationToken, DropGuard};

use super::admin::Admin;
use super::callback::{ChannelEvent, EventSink, Inline};
use super::confirms::{Notify, Route, Unconfirmed, settle};
use super::health::Health;
use super::limits::Limits;
use super::props::{short, to_properties};
use super::shield::{Chan, Link};
use crate::error::RpcError;
use crate::message::Message;

/// The channel and the next delivery tag on it, locked across a publish.
struct Line {
    channel: Chan,
    next_tag: u64,
    /// Random, per channel: with the tag, a message id no other publish
    /// of any process carries.
    nonce: u64,
}

impl Line {
    fn new(channel: Chan) -> Self {
        Self {
            channel,
            next_tag: 1,
            nonce: (uuid::Uuid::new_v4().as_u128() >> 64) as u64,
        }
    }
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
    /// What the broker's refusals teach (its max_message_size).
    limits: Arc<Limits>,
    /// One permit, on a publisher that sends one message at a time.
    turns: Option<Arc<Semaphore>>,
    confirms: Arc<Mutex<Confirms>>,
    /// Where the channel's events go (acks, nacks and returns are settled
    /// in the callback; a close goes to the settling task).
    sink: EventSink,
    events: mpsc::UnboundedSender<ChannelEvent>,
    /// Stops the settling task when the last handle goes.
    _stop: DropGuard,
}

impl Shared {
    fn confirms(&self) -> std::sync::MutexGuard<'_, Confirms> {
        self.confirms.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Settles acks, nacks and returns as amqprs reports them (in the order the
/// broker sent them, no task woken per confirm); leaves a close to the
/// settling task, which opens a new channel.
fn settle_inline(
    confirms: Arc<Mutex<Confirms>>,
    health: Arc<Health>,
    admin: Option<Arc<Admin>>,
) -> Inline {
    Arc::new(move |event| match event {
        ChannelEvent::Closed { .. } => Some(event),
        other => {
            let mut confirms = confirms.lock().unwrap_or_else(PoisonError::into_inner);
            settle(
                &mut confirms.unconfirmed,
                other,
                &health,
                admin.as_ref(),
                None,
            );
            None
        }
    })
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
    /// confirms. With `one_at_a_time`, each publish waits until the one
    /// before it is settled: a refusal (the broker closes the channel on a
    /// message too large) then fails that message alone.
    pub(super) async fn open(
        link: &Link,
        admin: Option<Arc<Admin>>,
        limits: Arc<Limits>,
        one_at_a_time: bool,
    ) -> Result<Self, RpcError> {
        let (events, events_rx) = mpsc::unbounded_channel();
        let confirms = Arc::new(Mutex::new(Confirms::default()));
        let sink = EventSink {
            inline: Some(settle_inline(
                Arc::clone(&confirms),
                Arc::clone(link.health()),
                admin.clone(),
            )),
            owner: events.clone(),
        };
        let channel = open_confirm_channel(link, &sink).await?;
        let stop = CancellationToken::new();
        let shared = Arc::new(Shared {
            line: tokio::sync::Mutex::new(Line::new(channel)),
            admin,
            limits,
            turns: one_at_a_time.then(|| Arc::new(Semaphore::new(1))),
            confirms,
            sink,
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
        // A returned cast is known by its tag; a call's request by its
        // correlation id (the broker spends work on every property).
        let tagged = matches!(done, Notify::Wait(_)) || message.correlation_id.is_none();
        let turn = match &self.shared.turns {
            Some(turns) => Some(
                Arc::clone(turns)
                    .acquire_owned()
                    .await
                    .map_err(|_| RpcError::Closed)?,
            ),
            None => None,
        };
        {
            let line = self.shared.line.lock().await;
            let tag = line.next_tag;
            {
                let mut confirms = self.shared.confirms();
                if let Some(error) = &confirms.broken {
                    return Err(error.clone());
                }
                let entry = Unconfirmed {
                    route: Route::new(exchange, routing_key),
                    done,
                    returned: false,
                    names_queue,
                    sent: Instant::now(),
                    size: message.body.len(),
                    _turn: turn,
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
            if tagged {
                let nonce = numbered.line.nonce;
                properties.with_message_id(&format!("{nonce:016x}-{tag}"));
            }
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

/// Opens a channel in confirm mode whose callback events go to `sink`.
async fn open_confirm_channel(link: &Link, sink: &EventSink) -> Result<Chan, RpcError> {
    let channel = link.channel_to(sink.clone()).await?;
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
        // Code 0: the session ended on our side (closed, or replaced after
        // a loss the supervisor already reported).
        let ours = matches!(event, ChannelEvent::Closed { code: 0, .. });
        // The broker closed the channel (a refusal, a vanished exchange):
        // new publishes wait for its replacement instead of failing.
        let channel_only = matches!(event, ChannelEvent::Closed { code, .. } if code != 0);
        let mut line = match channel_only {
            true => Some(shared.line.lock().await),
            false => None,
        };
        if let ChannelEvent::Closed { code, text } = &event {
            shared.limits.learn(*code, text);
        }
        let outcome = {
            let mut confirms = shared.confirms();
            let outcome = settle(
                &mut confirms.unconfirmed,
                event,
                link.health(),
                shared.admin.as_ref(),
                Some(link.identity()),
            );
            if let (Some((error, _)), false) = (&outcome, channel_only) {
                confirms.broken = Some(error.clone());
            }
            outcome
        };
        let Some((error, _)) = outcome else {
            continue;
        };
        if ours {
            tracing::debug!("publishing channel closed on this side");
        } else {
            tracing::warn!(%error, "publishing channel closed; publishing on a new one");
        }
        // A channel error leaves the connection usable: start over on a
        // new channel.
        if let Some(line) = &mut line {
            match open_confirm_channel(&link, &shared.sink).await {
                Ok(channel) => **line = Line::new(channel),
                Err(error) => shared.confirms().broken = Some(error),
            }
        }
    }
}
