//! A subscription's consumers on a shared channel ([`super::seats`]), and
//! noticing when they are lost. The deliveries are read by the listener
//! itself ([`super::incoming`]).

use std::sync::Arc;
use std::time::Duration;

use amqprs::FieldTable;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::callback::ChannelEvent;
use super::incoming::Fed;
use super::limits::Limits;
use super::seats::{self, Seat, Seats};
use crate::error::RpcError;

/// How long a stopping consumer waits for its listener to give back the
/// deliveries it did not take.
const HAND_BACK: Duration = Duration::from_secs(5);

/// A subscription's consumers, one per queue.
pub(super) struct Consumer {
    seat: Seat,
    events: seats::Events,
    /// Ends (`None`) once the listener saw every queue's deliveries end
    /// (the consumers or the channel are gone) and gave back what it did
    /// not take, or the listener is gone.
    alive: mpsc::UnboundedReceiver<()>,
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
    /// Starts consuming `queues` (each with its `basic.consume` arguments,
    /// and whether it is a stream) with `prefetch` unacked deliveries each;
    /// returns the consumer and the queues' deliveries, for the listener.
    pub(super) async fn start(
        seats: &Seats,
        queues: &[(String, FieldTable, bool)],
        prefetch: u16,
        limits: &Arc<Limits>,
    ) -> Result<(Self, Vec<Fed>), RpcError> {
        let consumed: Vec<(String, FieldTable)> = (queues.iter())
            .map(|(queue, arguments, _)| (queue.clone(), arguments.clone()))
            .collect();
        let (seat, events, deliveries) = seats.consume(&consumed, prefetch).await?;
        let (alive_tx, alive) = mpsc::unbounded_channel();
        let fed = queues
            .iter()
            .zip(deliveries)
            .map(|((queue, _, stream), deliveries)| {
                let (queue, channel) = (Arc::from(queue.as_str()), seat.channel().clone());
                let alive = alive_tx.clone();
                Fed::new(
                    queue,
                    channel,
                    deliveries,
                    alive,
                    Arc::clone(limits),
                    *stream,
                )
            })
            .collect();
        let consumer = Self {
            seat,
            events,
            alive,
        };
        Ok((consumer, fed))
    }

    /// Waits until stopped or lost (`gone`: a queue was found missing),
    /// and cancels the consumers; the shared channel stays open for the
    /// deliveries taken (acked on it) and for the other seats. When
    /// stopped, returns once the broker confirmed the cancels and the
    /// listener gave back what it did not take (so nothing of this
    /// subscription's is left unacked).
    pub(super) async fn pump(
        self,
        stop: &CancellationToken,
        gone: &CancellationToken,
        limits: &Limits,
    ) -> Ended {
        let Consumer {
            mut seat,
            mut events,
            mut alive,
        } = self;
        loop {
            tokio::select! {
                // A listener dropped stops first, then lets its deliveries go.
                biased;
                () = stop.cancelled() => {
                    seat.cancel_now().await;
                    let handed_back = async { while alive.recv().await.is_some() {} };
                    let _ = tokio::time::timeout(HAND_BACK, handed_back).await;
                    return Ended::Stopped;
                }
                _ = alive.recv() => {
                    seat.cancel(None);
                    return Ended::Lost;
                }
                // A queue vanished without the broker cancelling its consumer.
                () = gone.cancelled() => {
                    seat.cancel(None);
                    return Ended::Lost;
                }
                Some(event) = events.recv() => match event {
                    ChannelEvent::Closed { code, text } => {
                        if limits.learn(code, &text) {
                            tracing::warn!(code, %text, "the broker took back deliveries left unacked past its consumer_timeout; they come again (those already running are not run twice); consuming again");
                        } else {
                            tracing::warn!(code, %text, "the broker closed a consuming channel; consuming again");
                        }
                        return Ended::Lost;
                    }
                    ChannelEvent::Cancelled { consumer_tag } => {
                        tracing::warn!(%consumer_tag, "the broker cancelled a consumer; consuming again");
                        seat.cancel(Some(&consumer_tag));
                        return Ended::Lost;
                    }
                    _ => {}
                },
            }
        }
    }
}
