//! The names of exchanges and queues, as oslo.messaging's rabbit driver
//! chooses them, so `rabbitmqctl list_queues` shows an operator what they
//! expect.
//!
//! | entity | name | kind |
//! |---|---|---|
//! | control exchange | `openstack` (configurable) | topic |
//! | topic queue | `<topic>` | bound to the control exchange with key `<topic>` |
//! | server queue | `<topic>.<server>` | bound with key `<topic>.<server>` |
//! | fanout exchange | `<topic>_fanout` | fanout, auto-delete |
//! | fanout queue | `<topic>_fanout_<uuid hex>` | exclusive, auto-delete, one per server |
//! | reply queue | `reply_<uuid hex>` | exclusive, auto-delete, one per client transport |
//!
//! A driver is given the queues to declare and their bindings
//! ([`QueueSpec`], from [`Source::queues`](crate::transport::driver::Source::queues))
//! and where each message goes ([`Route`], from
//! [`Destination::route`](crate::Destination::route)), so that it never
//! derives a name itself.

use crate::error::RpcError;

/// An exchange, as a driver is asked to route through it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Exchange {
    /// The transport's control exchange (oslo's `control_exchange`), a
    /// topic exchange: a message reaches the queues bound with its key.
    Control,
    /// A topic's fanout exchange (`<topic>_fanout`), auto-deleted with its
    /// last queue: a message reaches every queue bound to it.
    Fanout(String),
    /// No exchange: the key names the queue (AMQP's default exchange).
    Direct,
}

/// Where a message goes, or what a queue is bound with: an exchange and a
/// routing key (ignored by a fanout exchange).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Route {
    /// The exchange.
    pub exchange: Exchange,
    /// The routing key.
    pub key: String,
}

impl Route {
    /// Whether a queue bound with `self` receives a message sent to `to`.
    pub fn takes(&self, to: &Route) -> bool {
        self.exchange == to.exchange
            && (matches!(self.exchange, Exchange::Fanout(_)) || self.key == to.key)
    }

    /// Whether a message sent to `self` reaches the queue `name`, bound
    /// with `bindings` (or named by a direct route).
    pub fn reaches(&self, name: &str, bindings: &[Route]) -> bool {
        (self.exchange == Exchange::Direct && self.key == name)
            || bindings.iter().any(|binding| binding.takes(self))
    }
}

/// How long a queue lives, and who reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lifetime {
    /// Shared by its subscribers and kept when they go (a topic queue, a
    /// notification queue).
    Shared,
    /// One subscriber's own (a server's `topic.server`): it expires after
    /// the subscription's `expires` without a consumer, and the subscriber
    /// removes it when it stops, if idle.
    Own,
    /// Gone with its subscription (a server's fanout queue): exclusive to
    /// its connection, auto-deleted.
    Exclusive,
}

/// A queue a subscription declares, binds and receives from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueSpec {
    /// Its name.
    pub name: String,
    /// How long it lives.
    pub lifetime: Lifetime,
    /// What it is bound with.
    pub bindings: Vec<Route>,
}

/// AMQP's limit on exchange names, queue names and routing keys.
pub const MAX_NAME_LEN: usize = 255;

/// The control exchange oslo.messaging uses unless told otherwise.
pub const DEFAULT_CONTROL_EXCHANGE: &str = "openstack";

/// The topic queue, shared by all servers of a topic.
pub fn topic_queue(topic: &str) -> &str {
    topic
}

/// The queue of one named server of a topic.
pub fn server_queue(topic: &str, server: &str) -> String {
    format!("{topic}.{server}")
}

/// The fanout exchange of a topic.
pub fn fanout_exchange(topic: &str) -> String {
    format!("{topic}_fanout")
}

/// A fresh, unique fanout queue name for one server of a topic.
pub fn fanout_queue(topic: &str) -> String {
    format!("{topic}_fanout_{}", uuid::Uuid::new_v4().simple())
}

/// A fresh, unique reply queue name.
pub fn reply_queue() -> String {
    format!("reply_{}", uuid::Uuid::new_v4().simple())
}

impl QueueSpec {
    /// A transport's reply queue: a fresh name, exclusive, bound to
    /// nothing (replies are sent to it by name).
    pub fn reply() -> Self {
        Self {
            name: reply_queue(),
            lifetime: Lifetime::Exclusive,
            bindings: Vec::new(),
        }
    }
}

/// Checks a name the user chose (topic, server, exchange) before it reaches
/// the broker: non-empty, short enough once suffixed, printable ASCII
/// without spaces.
pub fn check_name(kind: &str, name: &str) -> Result<(), RpcError> {
    // Leave room for the longest suffix we add: `_fanout_` + 32 hex digits.
    const ROOM: usize = 40;
    if name.is_empty() {
        return Err(RpcError::config(format!("the {kind} name is empty")));
    }
    if name.len() > MAX_NAME_LEN - ROOM {
        return Err(RpcError::config(format!(
            "the {kind} name is longer than {} bytes",
            MAX_NAME_LEN - ROOM
        )));
    }
    if let Some(bad) = name.chars().find(|c| !c.is_ascii_graphic()) {
        return Err(RpcError::config(format!(
            "the {kind} name `{}` contains {bad:?}; use printable ASCII without spaces",
            name.escape_debug()
        )));
    }
    Ok(())
}

/// Checks that the queues of `server` on `topic` have names AMQP accepts.
pub fn check_server_names(topic: &str, server: &str) -> Result<(), RpcError> {
    check_name("topic", topic)?;
    check_name("server", server)?;
    let queue = server_queue(topic, server);
    if queue.len() > MAX_NAME_LEN {
        return Err(RpcError::config(format!(
            "the queue name `{topic}.{server}` is longer than {MAX_NAME_LEN} bytes"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_oslo() {
        assert_eq!(topic_queue("volume"), "volume");
        assert_eq!(server_queue("volume", "host-1"), "volume.host-1");
        assert_eq!(fanout_exchange("volume"), "volume_fanout");
        let q = fanout_queue("volume");
        assert!(q.starts_with("volume_fanout_") && q.len() == "volume_fanout_".len() + 32);
        assert!(reply_queue().starts_with("reply_"));
    }

    #[test]
    fn routes_reach_the_queues_bound_for_them() {
        let control = |key: &str| Route {
            exchange: Exchange::Control,
            key: key.to_owned(),
        };
        let fanout = Route {
            exchange: Exchange::Fanout(fanout_exchange("volume")),
            key: String::new(),
        };
        let server = [control("volume.host-1")];
        let fanout_bound = [Route {
            key: "volume".to_owned(),
            ..fanout.clone()
        }];
        assert!(control("volume.host-1").reaches("volume.host-1", &server));
        assert!(!control("volume").reaches("volume.host-1", &server));
        assert!(fanout.reaches("volume_fanout_1", &fanout_bound), "any key");
        assert!(!fanout.reaches("volume.host-1", &server));
        let direct = Route {
            exchange: Exchange::Direct,
            key: "reply_1".to_owned(),
        };
        assert!(direct.reaches("reply_1", &[]));
        assert!(!direct.reaches("reply_2", &[]));
    }

    #[test]
    fn refuses_unusable_names() {
        assert!(check_name("server", "host-1.example.org").is_ok());
        assert!(check_name("server", "").is_err());
        assert!(check_name("server", "a b").is_err());
        assert!(check_name("server", &"x".repeat(300)).is_err());
        let long = "x".repeat(200);
        assert!(check_server_names(&long, "host-1").is_ok());
        assert!(check_server_names(&long, &long).is_err());
    }
}
