//! Where a message is sent, in oslo.messaging's terms.

use std::fmt;

use crate::topology::{self, Exchange, Route};

/// Where a request is sent, in oslo.messaging's terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    /// Any one server of the topic (they compete for the topic queue).
    Topic {
        /// The topic, e.g. `volume`.
        topic: String,
    },
    /// One named server of the topic (its `topic.server` queue).
    Server {
        /// The topic.
        topic: String,
        /// The server's name, e.g. `host-1`.
        server: String,
    },
    /// Every server of the topic (the `topic_fanout` exchange); casts only.
    Fanout {
        /// The topic.
        topic: String,
    },
    /// Whatever is bound to `key` on the control exchange (notifications:
    /// `notifications.info`).
    RoutingKey {
        /// The routing key.
        key: String,
    },
    /// One queue, by name, through the default exchange.
    Queue {
        /// The queue's name.
        name: String,
    },
}

impl Destination {
    /// The exchange and routing key a message to this destination is
    /// published with (oslo's names: see [`crate::topology`]).
    pub fn route(&self) -> Route {
        let (exchange, key) = match self {
            Destination::Topic { topic } => {
                (Exchange::Control, topology::topic_queue(topic).to_owned())
            }
            Destination::Server { topic, server } => {
                (Exchange::Control, topology::server_queue(topic, server))
            }
            Destination::Fanout { topic } => (
                Exchange::Fanout(topology::fanout_exchange(topic)),
                String::new(),
            ),
            Destination::RoutingKey { key } => (Exchange::Control, key.clone()),
            Destination::Queue { name } => (Exchange::Direct, name.clone()),
        };
        Route { exchange, key }
    }
}

impl fmt::Display for Destination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Destination::Topic { topic } => write!(f, "{topic}"),
            Destination::Server { topic, server } => write!(f, "{topic}.{server}"),
            Destination::Fanout { topic } => write!(f, "{topic} (fanout)"),
            Destination::RoutingKey { key } => write!(f, "{key}"),
            Destination::Queue { name } => write!(f, "queue {name}"),
        }
    }
}
