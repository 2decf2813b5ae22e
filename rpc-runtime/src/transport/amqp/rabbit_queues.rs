//! oslo.messaging's newer `[oslo_messaging_rabbit]` queue options, read
//! from the URL's query (and so from nova.conf), each declared as
//! oslo.messaging 18.x declares it, so that Python and Rust servers of one
//! topic share its queues without a `406 PRECONDITION_FAILED`:
//!
//! - `rabbit_transient_quorum_queue=true`: a server's fanout queue is a
//!   quorum queue (durable, `x-expires`), not an exclusive one; the
//!   topic's fanout exchange is durable.
//! - `rabbit_stream_fanout=true`: one stream queue per topic,
//!   `<topic>_fanout`, that every server of the topic reads from the next
//!   message on (`x-stream-offset: next`): a fanout is one message on the
//!   broker, not one per server. Kept for `x-max-age`.
//! - `rabbit_transient_queues_ttl=<seconds>` (default 1800; 0: none): the
//!   `x-expires` of quorum fanout queues, the `x-max-age` of the stream.
//! - `use_queue_manager=true`: a quorum fanout queue is named
//!   `<topic>_fanout_<host>:<process>:<n>`, the same after a restart (and
//!   kept at a clean stop, to be used again; the ttl removes it otherwise).
//! - `enable_cancel_on_failover=true`: consumers ask for
//!   `x-cancel-on-ha-failover`.
//! - `rabbit_quorum_delivery_limit=<n>`: the `x-delivery-limit` of quorum
//!   queues (with `rabbit_quorum_queue`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use amqprs::{FieldTable, FieldValue};

use crate::error::RpcError;

/// oslo's default `rabbit_transient_queues_ttl`.
const DEFAULT_TTL: Duration = Duration::from_secs(1800);

/// The options, as set.
#[derive(Debug, Clone)]
pub(crate) struct RabbitQueues {
    pub(crate) transient_quorum: bool,
    pub(crate) stream_fanout: bool,
    pub(crate) ttl: Option<Duration>,
    pub(crate) queue_manager: bool,
    pub(crate) cancel_on_failover: bool,
    pub(crate) delivery_limit: Option<u32>,
}

impl Default for RabbitQueues {
    fn default() -> Self {
        Self {
            transient_quorum: false,
            stream_fanout: false,
            ttl: Some(DEFAULT_TTL),
            queue_manager: false,
            cancel_on_failover: false,
            delivery_limit: None,
        }
    }
}

/// How a server's fanout messages reach it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum FanoutQueue {
    /// A queue of its own that goes with its connection (the default).
    Exclusive { name: String },
    /// A quorum queue of its own; removed at a clean stop unless `kept`.
    Quorum {
        name: String,
        expires: Option<Duration>,
        kept: bool,
    },
    /// The topic's stream, read by every server of the topic.
    Stream {
        name: String,
        max_age: Option<Duration>,
    },
}

impl RabbitQueues {
    /// Applies `key=value` if it is one of these options (`None` if not).
    pub(crate) fn option(&mut self, key: &str, value: &str) -> Option<Result<(), RpcError>> {
        let bad =
            |expected: &str| RpcError::config(format!("`{key}={value}`: expected {expected}"));
        let flag = || flag(value).ok_or_else(|| bad("`true` or `false`"));
        let set = match key {
            "rabbit_transient_quorum_queue" => flag().map(|on| self.transient_quorum = on),
            "rabbit_stream_fanout" => flag().map(|on| self.stream_fanout = on),
            "use_queue_manager" => flag().map(|on| self.queue_manager = on),
            "enable_cancel_on_failover" => flag().map(|on| self.cancel_on_failover = on),
            "rabbit_transient_queues_ttl" => value
                .parse::<u64>()
                .map(|seconds| self.ttl = (seconds > 0).then(|| Duration::from_secs(seconds)))
                .map_err(|_| bad("a number of seconds")),
            "rabbit_quorum_delivery_limit" => value
                .parse::<u32>()
                .map(|limit| self.delivery_limit = (limit > 0).then_some(limit))
                .map_err(|_| bad("a number")),
            _ => return None,
        };
        Some(set)
    }

    /// Whether a topic's fanout exchange is durable (as oslo declares it
    /// with these options).
    pub(crate) fn durable_fanout_exchange(&self) -> bool {
        self.transient_quorum || self.stream_fanout
    }

    /// The fanout queue of a server of `topic`, whose exclusive queue
    /// would be `exclusive`.
    pub(crate) fn fanout(&self, topic: &str, exclusive: String) -> FanoutQueue {
        if self.stream_fanout {
            FanoutQueue::Stream {
                name: crate::topology::fanout_exchange(topic),
                max_age: self.ttl,
            }
        } else if self.transient_quorum {
            let name = if self.queue_manager {
                static NEXT: AtomicU64 = AtomicU64::new(1);
                let n = NEXT.fetch_add(1, Ordering::Relaxed);
                format!("{topic}_fanout_{}:{}:{n}", host(), process())
            } else {
                exclusive
            };
            FanoutQueue::Quorum {
                name,
                expires: self.ttl,
                kept: self.queue_manager,
            }
        } else {
            FanoutQueue::Exclusive { name: exclusive }
        }
    }

    /// The arguments of a `basic.consume` of `queue`.
    pub(crate) fn consume_arguments(&self, stream: bool) -> FieldTable {
        let mut arguments = FieldTable::new();
        let field = |name: &str| name.try_into().expect("a short literal");
        if stream {
            arguments.insert(field("x-stream-offset"), FieldValue::from("next"));
        } else if self.cancel_on_failover {
            arguments.insert(field("x-cancel-on-ha-failover"), FieldValue::t(true));
        }
        arguments
    }
}

impl FanoutQueue {
    pub(crate) fn name(&self) -> &str {
        match self {
            Self::Exclusive { name } | Self::Quorum { name, .. } | Self::Stream { name, .. } => {
                name
            }
        }
    }
}

/// An option's boolean, as oslo writes them (`1`, `true`, `yes`, ...).
pub(super) fn flag(value: &str) -> Option<bool> {
    match value.to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Some(true),
        "0" | "false" | "no" | "off" => Some(false),
        _ => None,
    }
}

/// The host's name, as oslo's queue manager puts it in queue names.
fn host() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_owned())
}

/// The program's name.
fn process() -> String {
    std::env::current_exe()
        .ok()
        .and_then(|path| path.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "rpc".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(options: &[(&str, &str)]) -> RabbitQueues {
        let mut queues = RabbitQueues::default();
        for (key, value) in options {
            queues.option(key, value).expect("known").expect("valid");
        }
        queues
    }

    #[test]
    fn the_default_fanout_queue_is_exclusive() {
        let fanout = RabbitQueues::default().fanout("volume", "volume_fanout_ab".into());
        assert_eq!(
            fanout,
            FanoutQueue::Exclusive {
                name: "volume_fanout_ab".into()
            }
        );
    }

    #[test]
    fn stream_fanout_is_one_stream_per_topic_kept_for_the_ttl() {
        let queues = with(&[
            ("rabbit_stream_fanout", "true"),
            ("rabbit_transient_queues_ttl", "60"),
        ]);
        let fanout = queues.fanout("volume", "volume_fanout_ab".into());
        let max_age = Some(Duration::from_secs(60));
        assert_eq!(
            fanout,
            FanoutQueue::Stream {
                name: "volume_fanout".into(),
                max_age
            }
        );
        assert!(queues.durable_fanout_exchange());
    }

    #[test]
    fn the_queue_manager_names_quorum_fanout_queues_by_host_and_process() {
        let queues = with(&[
            ("rabbit_transient_quorum_queue", "yes"),
            ("use_queue_manager", "true"),
        ]);
        let FanoutQueue::Quorum {
            name,
            kept,
            expires,
        } = queues.fanout("volume", "x".into())
        else {
            panic!("a quorum fanout queue");
        };
        assert!(
            name.starts_with(&format!("volume_fanout_{}:", host())),
            "{name}"
        );
        assert!(kept);
        assert_eq!(expires, Some(DEFAULT_TTL));
    }

    #[test]
    fn a_bad_value_names_the_option_and_other_keys_are_not_taken() {
        let mut queues = RabbitQueues::default();
        let error = queues
            .option("rabbit_transient_queues_ttl", "soon")
            .expect("known");
        assert!(
            error
                .expect_err("bad")
                .to_string()
                .contains("rabbit_transient_queues_ttl")
        );
        assert!(queues.option("heartbeat", "10").is_none());
    }
}
