//! The bookkeeping of publisher confirms: who waits for which delivery
//! tag, and what each `basic.ack`, `basic.nack`, `basic.return` and channel
//! close means for them. [`super::publisher`] numbers the publishes and
//! feeds the broker's events in.

use std::collections::BTreeMap;
use std::sync::Arc;

use tokio::sync::OwnedSemaphorePermit;
use tokio::time::Instant;

use super::admin::Admin;
use super::callback::ChannelEvent;
use super::health::Health;
use super::refusal::{Identity, Needs, refusal};
use crate::error::RpcError;
use crate::transport::driver::{CallId, Events, Settler};

/// Who learns how a publish was settled.
pub(super) enum Notify {
    /// A cast waiting for its confirm.
    Wait(Settler),
    /// A call's request: only a failure is passed on, to that call.
    Call(CallId, Events),
}

impl Notify {
    fn send(self, result: Result<(), RpcError>) {
        match self {
            Notify::Wait(done) => done.settle(result),
            Notify::Call(call, events) => {
                if let Err(error) = result {
                    events.refused(call, error);
                }
            }
        }
    }
}

/// A publish the broker has not confirmed yet.
pub(super) struct Unconfirmed {
    pub(super) route: Route,
    pub(super) done: Notify,
    pub(super) returned: bool,
    /// The routing key names a queue: if the message comes back, ask
    /// whether that queue is missing or only unavailable.
    pub(super) names_queue: bool,
    pub(super) sent: Instant,
    /// The body's size (a refusal for size names it).
    pub(super) size: usize,
    /// Held until settled, on a publisher that sends one message at a time.
    pub(super) _turn: Option<OwnedSemaphorePermit>,
}

/// Where a publish went, for the error should it fail: its exchange and
/// routing key, in one allocation.
pub(super) struct Route {
    names: Box<str>,
    split: usize,
}

impl Route {
    pub(super) fn new(exchange: &str, routing_key: &str) -> Self {
        let mut names = String::with_capacity(exchange.len() + routing_key.len());
        names.push_str(exchange);
        names.push_str(routing_key);
        Self {
            names: names.into_boxed_str(),
            split: exchange.len(),
        }
    }

    pub(super) fn exchange(&self) -> &str {
        &self.names[..self.split]
    }

    pub(super) fn routing_key(&self) -> &str {
        &self.names[self.split..]
    }
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

/// Applies one broker event; returns the error that closed the channel, if
/// any, and whether only the channel (not the connection) is gone.
pub(super) fn settle(
    unconfirmed: &mut BTreeMap<u64, Unconfirmed>,
    event: ChannelEvent,
    health: &Health,
    admin: Option<&Arc<Admin>>,
    who: Option<&Identity>,
) -> Option<(RpcError, bool)> {
    match event {
        ChannelEvent::Ack { tag, multiple } => {
            health.acked();
            for (_, entry) in take(unconfirmed, tag, multiple) {
                let result = if entry.returned {
                    Err(RpcError::Undeliverable {
                        destination: RpcError::destination_of(
                            entry.route.exchange(),
                            entry.route.routing_key(),
                        ),
                    })
                } else {
                    Ok(())
                };
                entry.finish(result, admin);
            }
            None
        }
        ChannelEvent::Nack { tag, multiple } => {
            let refused: Vec<_> = take(unconfirmed, tag, multiple).collect();
            health.nacked(refused.len().max(1));
            for (_, entry) in refused {
                let refused = RpcError::Refused {
                    destination: RpcError::destination_of(
                        entry.route.exchange(),
                        entry.route.routing_key(),
                    ),
                };
                entry.finish(Err(refused), None);
            }
            None
        }
        ChannelEvent::Return {
            message_id,
            correlation_id,
            ..
        } => {
            if let Some(entry) = returned(unconfirmed, message_id, correlation_id) {
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
            // A refusal (a permission, the message's size) is that
            // message's: those sent after it on the channel are lost with it.
            let refused = who.and_then(|who| refusal(code, &text, who, Needs::Write));
            for (_, entry) in std::mem::take(unconfirmed) {
                // 404 "no exchange 'x'": nobody listens there (a fanout
                // exchange vanishes with the topic's last server).
                let exchange = entry.route.exchange();
                let missing = format!("no exchange '{exchange}'");
                let result = match &refused {
                    _ if code == 404 && text.contains(&missing) => RpcError::Undeliverable {
                        destination: RpcError::destination_of(exchange, entry.route.routing_key()),
                    },
                    Some(denied @ RpcError::PermissionDenied { resource, .. })
                        if *resource == format!("exchange '{exchange}'") =>
                    {
                        denied.clone()
                    }
                    Some(too_large @ RpcError::TooLarge { size, .. })
                        if *size == entry.size as u64 =>
                    {
                        too_large.clone()
                    }
                    _ => error.clone(),
                };
                entry.finish(Err(result), None);
            }
            Some((error, code != 0))
        }
    }
}

/// The publish a returned message was: a cast by its tag (in
/// `message_id`), a call's request by its call's id (the correlation id;
/// returns are rare, so the search is fine).
fn returned(
    unconfirmed: &mut BTreeMap<u64, Unconfirmed>,
    message_id: Option<String>,
    correlation_id: Option<String>,
) -> Option<&mut Unconfirmed> {
    let tag = |id: String| id.rsplit_once('-')?.1.parse::<u64>().ok();
    if let Some(tag) = message_id.and_then(tag) {
        return unconfirmed.get_mut(&tag);
    }
    let call = u128::from_str_radix(&correlation_id?, 16).ok()?;
    unconfirmed
        .values_mut()
        .find(|entry| matches!(entry.done, Notify::Call(CallId(id), _) if id == call))
}

/// Removes `tag`, or every tag up to it when `multiple`.
fn take(
    unconfirmed: &mut BTreeMap<u64, Unconfirmed>,
    tag: u64,
    multiple: bool,
) -> impl Iterator<Item = (u64, Unconfirmed)> {
    let (one, up_to_tag) = if multiple {
        let rest = unconfirmed.split_off(&(tag + 1));
        (None, std::mem::replace(unconfirmed, rest))
    } else {
        let one = unconfirmed.remove(&tag).map(|e| (tag, e));
        (one, BTreeMap::new())
    };
    one.into_iter().chain(up_to_tag)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::driver::Confirm;

    fn entry() -> (Unconfirmed, Confirm) {
        let (done, confirm) = Confirm::pending();
        (unconfirmed(Notify::Wait(done)), confirm)
    }

    /// A publish to exchange `x` with routing key `k`, settled to `done`.
    fn unconfirmed(done: Notify) -> Unconfirmed {
        Unconfirmed {
            route: Route::new("x", "k"),
            done,
            returned: false,
            names_queue: false,
            sent: Instant::now(),
            size: 0,
            _turn: None,
        }
    }

    #[test]
    fn a_route_keeps_both_names_apart() {
        for (exchange, key) in [("x", "k"), ("", "reply_1"), ("openstack", "")] {
            let route = Route::new(exchange, key);
            assert_eq!((route.exchange(), route.routing_key()), (exchange, key));
        }
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
                message_id: Some("00ff00ff00ff00ff-2".into()),
                correlation_id: None,
                routing_key: "k".into(),
            },
            &health,
            None,
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
            None,
        );
        let mut results = Vec::new();
        for confirm in receivers {
            results.push(confirm.outcome().await);
        }
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
        map.insert(1, unconfirmed(Notify::Call(CallId(call.id()), events)));
        let nack = ChannelEvent::Nack {
            tag: 1,
            multiple: false,
        };
        settle(&mut map, nack, &health, None, None);
        assert!(matches!(call.next().await, Err(RpcError::Refused { .. })));
    }

    #[tokio::test]
    async fn a_returned_request_is_known_by_its_correlation_id() {
        use futures_util::FutureExt;

        let health = Health::new(2047);
        let wire = crate::wire::Wire::Native.format(1024);
        let (events, hub) = crate::transport::Transport::events(wire);
        let mut returned = hub.pending.register();
        let mut delivered = hub.pending.register();
        let mut map = BTreeMap::new();
        for (tag, call) in [(1, &returned), (2, &delivered)] {
            let done = Notify::Call(CallId(call.id()), events.clone());
            map.insert(tag, unconfirmed(done));
        }
        let back = ChannelEvent::Return {
            message_id: None,
            correlation_id: Some(returned.correlation_id()),
            routing_key: "k".into(),
        };
        settle(&mut map, back, &health, None, None);
        let acks = ChannelEvent::Ack {
            tag: 2,
            multiple: true,
        };
        settle(&mut map, acks, &health, None, None);
        assert!(matches!(
            returned.next().await,
            Err(RpcError::Undeliverable { .. })
        ));
        // A confirmed request passes nothing on: its call waits for its reply.
        assert!(delivered.next().now_or_never().is_none());
    }
}
