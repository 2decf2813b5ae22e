//! Reading an oslo.config file (`nova.conf`, `cinder.conf`) as an
//! OpenStack service does: `[DEFAULT] transport_url` and
//! `control_exchange`, the `[oslo_messaging_rabbit]` options this runtime
//! has (as the `rabbit://` URL's query options, see [`AmqpConfig::from_url`])
//! and `[oslo_messaging_notifications] driver` and `topics`. Every other
//! option of those sections, and the messaging options of `[DEFAULT]` this
//! runtime does not have, are named in [`OsloConfig::ignored`] (and logged
//! at WARN by [`Transport::from_oslo_config`](crate::Transport::from_oslo_config)),
//! never silently dropped.
//!
//! The file is read as oslo.config's parser reads it: `[section]`,
//! `key = value` (or `key: value`), whole-line comments (`#`, `;`), indented
//! continuation lines, and the last of a repeated key winning.

use std::collections::BTreeMap;
use std::path::Path;

use super::config::AmqpConfig;
use crate::error::RpcError;

/// `[oslo_messaging_rabbit]` options read, as the URL's query options.
const RABBIT_OPTIONS: &[&str] = &[
    "heartbeat_timeout_threshold",
    "rabbit_quorum_queue",
    "rabbit_quorum_delivery_limit",
    "rabbit_transient_quorum_queue",
    "rabbit_transient_queues_ttl",
    "rabbit_stream_fanout",
    "use_queue_manager",
    "enable_cancel_on_failover",
    "amqp_durable_queues",
    "ssl",
    "ssl_ca_file",
    "ssl_cert_file",
    "ssl_key_file",
];

/// `[DEFAULT]` options of oslo.messaging this runtime does not have.
const DEFAULT_MESSAGING: &[&str] = &[
    "rpc_response_timeout",
    "executor_thread_pool_size",
    "rpc_conn_pool_size",
    "conn_pool_min_size",
    "conn_pool_ttl",
    "rpc_ping_enabled",
];

/// What an oslo.config file says about messaging.
#[derive(Debug, Clone)]
pub struct OsloConfig {
    amqp: AmqpConfig,
    notification_driver: Vec<String>,
    notification_topics: Vec<String>,
    ignored: Vec<String>,
}

impl OsloConfig {
    /// Reads the file at `path`.
    pub fn read(path: impl AsRef<Path>) -> Result<Self, RpcError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| {
            RpcError::config(format!(
                "cannot read the config file {}: {e}",
                path.display()
            ))
        })?;
        Self::parse(&text).map_err(|e| match e {
            RpcError::Config(why) => RpcError::config(format!("{}: {why}", path.display())),
            other => other,
        })
    }

    /// Reads the text of a config file.
    pub fn parse(text: &str) -> Result<Self, RpcError> {
        let sections = sections(text)?;
        let empty = BTreeMap::new();
        let section = |name: &str| sections.get(name).unwrap_or(&empty);
        let mut ignored = Vec::new();
        let default = section("DEFAULT");
        let url = default.get("transport_url").ok_or_else(|| {
            RpcError::config(
                "`[DEFAULT] transport_url` is missing (e.g. `rabbit://user:password@host:5672/`)",
            )
        })?;
        let mut query = Vec::new();
        for (key, value) in section("oslo_messaging_rabbit") {
            match RABBIT_OPTIONS.contains(&key.as_str()) {
                true => query.push(format!("{key}={}", encoded(value))),
                false => ignored.push(format!("[oslo_messaging_rabbit] {key}")),
            }
        }
        for key in default.keys() {
            if DEFAULT_MESSAGING.contains(&key.as_str()) {
                ignored.push(format!("[DEFAULT] {key}"));
            }
        }
        let url = match (query.is_empty(), url.contains('?')) {
            (true, _) => url.clone(),
            (false, has_query) => format!(
                "{url}{}{}",
                ["?", "&"][usize::from(has_query)],
                query.join("&")
            ),
        };
        let mut amqp = AmqpConfig::from_url(&url)?;
        if let Some(exchange) = default.get("control_exchange") {
            amqp = amqp.control_exchange(exchange.as_str());
        }
        let notifications = section("oslo_messaging_notifications");
        let list = |key: &str| -> Vec<String> {
            notifications.get(key).map_or_else(Vec::new, |v| {
                v.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
        };
        for key in notifications.keys() {
            if key != "driver" && key != "topics" {
                ignored.push(format!("[oslo_messaging_notifications] {key}"));
            }
        }
        Ok(Self {
            amqp,
            notification_driver: list("driver"),
            notification_topics: list("topics"),
            ignored,
        })
    }

    /// The transport's configuration.
    pub fn amqp(&self) -> &AmqpConfig {
        &self.amqp
    }

    /// The transport's configuration, taken.
    pub fn into_amqp(self) -> AmqpConfig {
        self.amqp
    }

    /// `[oslo_messaging_notifications] driver`: `messagingv2`, `noop`, ...
    /// (empty when unset: oslo then sends none).
    pub fn notification_driver(&self) -> &[String] {
        &self.notification_driver
    }

    /// `[oslo_messaging_notifications] topics` (empty when unset: oslo's
    /// default is `notifications`).
    pub fn notification_topics(&self) -> &[String] {
        &self.notification_topics
    }

    /// The messaging options of the file this runtime does not apply, as
    /// `[section] option`.
    pub fn ignored(&self) -> &[String] {
        &self.ignored
    }
}

/// A query option's value, percent-encoded.
fn encoded(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

/// The file's sections: each key's last value, continuation lines joined.
fn sections(text: &str) -> Result<BTreeMap<String, BTreeMap<String, String>>, RpcError> {
    let mut sections: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    let mut current: Option<String> = None;
    let mut last_key: Option<String> = None;
    for (number, line) in text.lines().enumerate() {
        let bad = |why: &str| RpcError::config(format!("line {}: {why}", number + 1));
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with(';') {
            continue;
        }
        if line.starts_with([' ', '\t']) {
            let (Some(section), Some(key)) = (&current, &last_key) else {
                return Err(bad("an indented line continues nothing"));
            };
            if let Some(value) = sections.entry(section.clone()).or_default().get_mut(key) {
                value.push('\n');
                value.push_str(trimmed);
            }
            continue;
        }
        if let Some(name) = trimmed.strip_prefix('[').and_then(|s| s.strip_suffix(']')) {
            current = Some(name.trim().to_owned());
            last_key = None;
            continue;
        }
        let Some(section) = &current else {
            return Err(bad("an option before any `[section]`"));
        };
        let at = trimmed
            .find(['=', ':'])
            .ok_or_else(|| bad("neither `key = value` nor a section"))?;
        let key = trimmed[..at].trim().to_owned();
        let value = trimmed[at + 1..].trim().to_owned();
        sections
            .entry(section.clone())
            .or_default()
            .insert(key.clone(), value);
        last_key = Some(key);
    }
    Ok(sections)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::Wire;

    const NOVA_CONF: &str = "\
[DEFAULT]
# the transport
transport_url = rabbit://nova:s3cret@ctl1:5672,nova:s3cret@ctl2:5672/nova
control_exchange = nova
rpc_response_timeout = 120
my_ip = 10.0.0.5

[oslo_messaging_rabbit]
heartbeat_timeout_threshold = 30
rabbit_quorum_queue = true
rabbit_retry_interval = 1

[oslo_messaging_notifications]
driver = messagingv2
topics = notifications,
  notifications_designate
";

    #[test]
    fn reads_nova_conf_as_oslo_does() {
        let config = OsloConfig::parse(NOVA_CONF).expect("parses");
        let amqp = config.amqp();
        assert_eq!(
            amqp.wire_format(),
            Wire::Oslo,
            "rabbit:// speaks oslo's wire"
        );
        assert_eq!(amqp.exchange(), "nova");
        assert_eq!(amqp.endpoints().len(), 2);
        assert_eq!(config.notification_driver(), ["messagingv2"]);
        assert_eq!(
            config.notification_topics(),
            ["notifications", "notifications_designate"]
        );
        assert_eq!(
            config.ignored(),
            [
                "[oslo_messaging_rabbit] rabbit_retry_interval",
                "[DEFAULT] rpc_response_timeout",
            ]
        );
        assert!(
            !format!("{config:?}").contains("s3cret"),
            "no secret in Debug"
        );
    }

    #[test]
    fn says_what_is_wrong_and_where() {
        let missing = OsloConfig::parse("[DEFAULT]\ndebug = true\n").expect_err("no URL");
        assert!(missing.to_string().contains("transport_url"), "{missing}");
        let stray = OsloConfig::parse("transport_url = rabbit://h/\n").expect_err("no section");
        assert!(stray.to_string().contains("line 1"), "{stray}");
        let bad = OsloConfig::parse("[DEFAULT]\ntransport_url = rabbit://h/\n[oslo_messaging_rabbit]\nrabbit_quorum_queue = maybe\n")
            .expect_err("not a boolean");
        assert!(bad.to_string().contains("rabbit_quorum_queue"), "{bad}");
    }
}
