//! Reading an `amqp://` or `amqps://` URL into an [`AmqpConfig`]: several
//! brokers, percent-decoded credentials and vhost, and RabbitMQ's query
//! options (see [`super::config`] for the list).

use url::Url;

use super::config::{
    AmqpConfig, DEFAULT_CONNECTION_TIMEOUT, DEFAULT_CONSUMER_TIMEOUT, DEFAULT_CONTROL_EXCHANGE,
};
use super::endpoint::{Endpoint, decode};
use super::rabbit_queues::flag;
use super::tls::TlsOptions;
use crate::codec::DEFAULT_MAX_MESSAGE_SIZE;
use crate::error::RpcError;
use crate::transport::driver::Durability;
use crate::wire::Wire;

impl AmqpConfig {
    /// Reads an `amqp://user:password@host:port/vhost?options` URL, or
    /// oslo.messaging's `rabbit://` transport URL as nova.conf writes it
    /// (which selects the oslo wire unless `wire=` says otherwise). Several
    /// brokers of a cluster may be listed, comma separated:
    /// `rabbit://u:p@h1:5672,u2:p2@h2:5672/`; a host without credentials
    /// uses the first host's. See the README for the options.
    pub fn from_url(url: &str) -> Result<Self, RpcError> {
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| RpcError::config("not an AMQP URL (no `://`)"))?;
        let (mut tls, wire) = match scheme {
            "amqp" => (None, Wire::Native),
            "amqps" => (Some(TlsOptions::new()), Wire::Native),
            "rabbit" => (None, Wire::Oslo),
            other => {
                return Err(RpcError::config(format!(
                    "unsupported URL scheme `{other}`; expected `amqp`, `amqps` or `rabbit`"
                )));
            }
        };
        let split = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authorities, tail) = rest.split_at(split);
        let query = Url::parse(&format!("amqp://host{tail}"))
            .map_err(|e| RpcError::config(format!("not an AMQP URL ({e})")))?;
        let options: Vec<(String, String)> = query
            .query_pairs()
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        if options
            .iter()
            .any(|(k, v)| k == "ssl" && flag(v).unwrap_or(false))
        {
            tls.get_or_insert_with(TlsOptions::new);
        }
        let default_port = if tls.is_some() { 5671 } else { 5672 };
        let mut endpoints: Vec<Endpoint> = Vec::new();
        let mut first: Option<Url> = None;
        for authority in authorities.split(',') {
            let parsed = Url::parse(&format!("amqp://{authority}{tail}"))
                .map_err(|e| RpcError::config(format!("not an AMQP URL ({e})")))?;
            let inherited = match &first {
                Some(first) if !authority.contains('@') => Some(first),
                _ => None,
            };
            endpoints.push(Endpoint::from_url(&parsed, inherited, default_port)?);
            first.get_or_insert(parsed);
        }
        let Some(parsed) = first else {
            return Err(RpcError::config("the AMQP URL has no host"));
        };
        let vhost = match parsed.path().strip_prefix('/').unwrap_or("") {
            "" => "/".to_owned(),
            path => decode(path, "vhost")?,
        };
        if vhost.len() > crate::topology::MAX_NAME_LEN {
            return Err(RpcError::config(
                "the vhost in the AMQP URL is longer than 255 bytes",
            ));
        }
        let mut config = Self {
            endpoints,
            vhost,
            heartbeat: 60,
            control_exchange: DEFAULT_CONTROL_EXCHANGE.to_owned(),
            connection_name: None,
            max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
            wire,
            format: None,
            durable_exchange: false,
            connection_timeout: DEFAULT_CONNECTION_TIMEOUT,
            consumer_timeout: DEFAULT_CONSUMER_TIMEOUT,
            tls,
            queue_durability: Durability::Transient,
            rabbit_queues: Default::default(),
        };
        for (key, value) in options {
            config.option(&key, value)?;
        }
        if let Durability::Replicated { delivery_limit } = &mut config.queue_durability {
            *delivery_limit = config.rabbit_queues.delivery_limit;
        }
        if let Some(tls) = &config.tls {
            tls.check()?;
        }
        Ok(config)
    }

    /// Applies one query option of the URL.
    fn option(&mut self, key: &str, value: String) -> Result<(), RpcError> {
        if let Some(set) = self.rabbit_queues.option(key, &value) {
            return set;
        }
        let bad =
            |expected: &str| RpcError::config(format!("`{key}={value}`: expected {expected}"));
        match key {
            // oslo's `heartbeat_timeout_threshold` is the AMQP heartbeat.
            "heartbeat" | "heartbeat_timeout_threshold" => {
                self.heartbeat = value.parse().map_err(|_| bad("a number of seconds"))?;
            }
            "control_exchange" => self.control_exchange = value,
            "connection_name" => self.connection_name = Some(value),
            "wire" => self.wire = Wire::parse(&value).ok_or_else(|| bad("`native` or `oslo`"))?,
            "durable_exchange" => {
                self.durable_exchange = flag(&value).ok_or_else(|| bad("`true` or `false`"))?;
            }
            "amqp_durable_queues" => {
                if flag(&value).ok_or_else(|| bad("`true` or `false`"))? {
                    self.queue_durability = Durability::Durable;
                    self.durable_exchange = true;
                }
            }
            "rabbit_quorum_queue" => {
                if flag(&value).ok_or_else(|| bad("`true` or `false`"))? {
                    self.queue_durability = Durability::Replicated {
                        delivery_limit: None,
                    };
                    // As oslo.messaging declares it with quorum queues: the
                    // bindings to them then survive a whole-cluster restart.
                    self.durable_exchange = true;
                }
            }
            "connection_timeout" => {
                let ms: u64 = value.parse().map_err(|_| bad("a number of milliseconds"))?;
                self.connection_timeout = std::time::Duration::from_millis(ms.max(1));
            }
            "consumer_timeout" => {
                let ms: u64 = value.parse().map_err(|_| bad("a number of milliseconds"))?;
                self.consumer_timeout = std::time::Duration::from_millis(ms.max(1));
            }
            // Read before the hosts (it sets their default port); checked here.
            "ssl" => {
                flag(&value).ok_or_else(|| bad("`true` or `false`"))?;
            }
            "cacertfile"
            | "certfile"
            | "keyfile"
            | "server_name_indication"
            | "ssl_ca_file"
            | "ssl_cert_file"
            | "ssl_key_file" => {
                let Some(tls) = self.tls.take() else {
                    return Err(RpcError::config(format!(
                        "`{key}` needs TLS: an `amqps://` URL, or `ssl=1`"
                    )));
                };
                self.tls = Some(match key {
                    "cacertfile" | "ssl_ca_file" => tls.ca_file(value),
                    "server_name_indication" => tls.server_name(value),
                    "certfile" | "ssl_cert_file" => tls.with_client_cert_file(value.into()),
                    _ => tls.with_client_key_file(value.into()),
                });
            }
            other => {
                return Err(RpcError::config(format!(
                    "unknown AMQP URL option `{other}`; known: heartbeat, heartbeat_timeout_threshold, control_exchange, connection_name, wire, durable_exchange, amqp_durable_queues, rabbit_quorum_queue, rabbit_quorum_delivery_limit, rabbit_transient_quorum_queue, rabbit_transient_queues_ttl, rabbit_stream_fanout, use_queue_manager, enable_cancel_on_failover, connection_timeout, consumer_timeout, ssl, cacertfile (ssl_ca_file), certfile (ssl_cert_file), keyfile (ssl_key_file), server_name_indication"
                )));
            }
        }
        Ok(())
    }
}
