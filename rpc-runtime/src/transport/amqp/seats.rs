//! Consuming channels shared by a session's subscriptions: up to
//! [`PER_CHANNEL`] consumers a channel, so that thousands of servers in one
//! process fit one connection (RabbitMQ allows 2,047 channels on one) and
//! the broker keeps a channel process per hundred consumers, not per
//! server.
//!
//! A subscription takes a [`Seat`]: its consumers on a shared channel and
//! the events the broker sends about them (its consumers cancelled, the
//! channel closed). Nothing that can make the broker close a channel runs
//! on a shared one (queues are declared on the session's admin channel);
//! only `basic.qos`, `basic.consume`, acks, nacks and cancels do. The
//! prefetch is set per consumer (`basic.qos` with `global = false` holds
//! for the consumers started after it), so each seat sets its own, in one
//! turn with its `basic.consume`s.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex as SyncMutex, PoisonError};

use amqprs::FieldTable;
use amqprs::channel::{BasicConsumeArguments, ConsumerMessage};
use tokio::sync::{Mutex, mpsc};

use super::callback::{ChannelEvent, EventSink, close_reason};
use super::refusal::explained;
use super::shield::{Chan, Link};
use crate::error::RpcError;

/// How many consumers share one channel, at most.
pub(super) const PER_CHANNEL: usize = 100;

/// The session's shared consuming channels.
pub(super) struct Seats {
    link: Link,
    channels: Mutex<Vec<Arc<Shared>>>,
    next_id: AtomicU64,
}

/// One shared channel.
struct Shared {
    channel: Chan,
    /// Where each seat's events go, and which consumers each has.
    seated: Arc<SyncMutex<HashMap<u64, Seated>>>,
    /// Held while a seat sets its prefetch and starts its consumers.
    turn: Mutex<()>,
}

struct Seated {
    events: mpsc::UnboundedSender<ChannelEvent>,
    tags: Vec<String>,
    /// Consumers held (counted before they are started).
    consumers: usize,
}

/// A subscription's consumers on a shared channel; cancels them and gives
/// up its place when dropped.
pub(super) struct Seat {
    shared: Arc<Shared>,
    id: u64,
    tags: Vec<String>,
    /// Whether its consumers were cancelled already.
    cancelled: bool,
}

impl Seats {
    pub(super) fn new(link: &Link) -> Self {
        Self {
            link: link.clone(),
            channels: Mutex::new(Vec::new()),
            next_id: AtomicU64::new(0),
        }
    }

    /// Starts consuming `queues` (manual acks, `prefetch` unacked each,
    /// the given `basic.consume` arguments) on a shared channel with room
    /// for them. Returns the seat, the events about it, and each queue's
    /// deliveries.
    pub(super) async fn consume(
        &self,
        queues: &[(String, FieldTable)],
        prefetch: u16,
    ) -> Result<(Seat, Events, Vec<Deliveries>), RpcError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, mut events) = mpsc::unbounded_channel();
        let shared = self.place(id, queues.len(), tx).await?;
        let mut seat = Seat {
            shared,
            id,
            tags: Vec::with_capacity(queues.len()),
            cancelled: false,
        };
        let shared = Arc::clone(&seat.shared);
        let turn = shared.turn.lock().await;
        seat.shared.channel.qos(prefetch).await?;
        let mut deliveries = Vec::with_capacity(queues.len());
        for (queue, arguments) in queues {
            let tag = uuid::Uuid::new_v4().simple().to_string();
            // Known before the broker can cancel it.
            seat.shared.seated(|seated| {
                if let Some(mine) = seated.get_mut(&id) {
                    mine.tags.push(tag.clone());
                }
            });
            seat.tags.push(tag.clone());
            let args = BasicConsumeArguments::new(queue, &tag)
                .manual_ack(true)
                .arguments(arguments.clone())
                .finish();
            match seat.shared.channel.consume_rx(args).await {
                Ok(consumed) => deliveries.push(consumed),
                Err(error) => {
                    let reason = close_reason(&mut events);
                    return Err(explained(error, reason.as_deref(), self.link.identity()));
                }
            }
        }
        drop(turn);
        Ok((seat, events, deliveries))
    }

    /// A shared channel with room for `consumers` more, opened if none has;
    /// `id` holds the room.
    async fn place(
        &self,
        id: u64,
        consumers: usize,
        events: mpsc::UnboundedSender<ChannelEvent>,
    ) -> Result<Arc<Shared>, RpcError> {
        let mut channels = self.channels.lock().await;
        channels.retain(|shared| shared.channel.is_open());
        let roomy = channels
            .iter()
            .find(|shared| shared.held() + consumers <= PER_CHANNEL);
        let shared = match roomy {
            Some(shared) => Arc::clone(shared),
            None => {
                let shared = Arc::new(Shared::open(&self.link).await?);
                channels.push(Arc::clone(&shared));
                shared
            }
        };
        shared.seated(|seated| {
            let tags = Vec::with_capacity(consumers);
            seated.insert(
                id,
                Seated {
                    events,
                    tags,
                    consumers,
                },
            )
        });
        Ok(shared)
    }
}

/// The events about one seat: its consumers cancelled by the broker, the
/// channel closed.
pub(super) type Events = mpsc::UnboundedReceiver<ChannelEvent>;

/// One consumer's deliveries.
pub(super) type Deliveries = mpsc::UnboundedReceiver<ConsumerMessage>;

impl Shared {
    async fn open(link: &Link) -> Result<Self, RpcError> {
        let seated: Arc<SyncMutex<HashMap<u64, Seated>>> = Arc::default();
        let routes = Arc::clone(&seated);
        // Each event goes to the seats it is about, as amqprs reports it.
        let route = move |event: ChannelEvent| {
            let seated = routes.lock().unwrap_or_else(PoisonError::into_inner);
            match &event {
                ChannelEvent::Closed { .. } => {
                    for seat in seated.values() {
                        let _ = seat.events.send(event.clone());
                    }
                }
                ChannelEvent::Cancelled { consumer_tag } => {
                    let owner = seated.values().find(|s| s.tags.contains(consumer_tag));
                    if let Some(seat) = owner {
                        let _ = seat.events.send(event.clone());
                    }
                }
                _ => {}
            }
            None
        };
        let (nobody, _) = mpsc::unbounded_channel();
        let sink = EventSink {
            inline: Some(Arc::new(route)),
            owner: nobody,
        };
        let channel = link.channel_to(sink).await?;
        Ok(Self {
            channel,
            seated,
            turn: Mutex::new(()),
        })
    }

    fn seated<T>(&self, f: impl FnOnce(&mut HashMap<u64, Seated>) -> T) -> T {
        f(&mut self.seated.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// Consumers held on the channel.
    fn held(&self) -> usize {
        self.seated(|seated| seated.values().map(|s| s.consumers).sum())
    }
}

impl Seat {
    /// The channel the seat's deliveries are acked on.
    pub(super) fn channel(&self) -> &Chan {
        &self.shared.channel
    }

    /// Cancels the seat's consumers and waits for the broker to confirm
    /// (the deliveries it sent before are all in their receivers then).
    pub(super) async fn cancel_now(&mut self) {
        self.cancelled = true;
        for tag in &self.tags {
            self.shared.channel.cancel_now(tag).await;
        }
    }

    /// Cancels the seat's consumers but `except` (one the broker
    /// cancelled), in the background.
    pub(super) fn cancel(&mut self, except: Option<&str>) {
        self.cancelled = true;
        for tag in self.tags.iter().filter(|tag| Some(tag.as_str()) != except) {
            self.shared.channel.cancel(tag);
        }
    }
}

impl Drop for Seat {
    fn drop(&mut self) {
        // Consumers left running (a start that failed half-way) stop too.
        if !self.cancelled && self.shared.channel.is_open() {
            self.cancel(None);
        }
        self.shared.seated(|seated| seated.remove(&self.id));
    }
}
