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

use crate::error::RpcError;

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
