//! Reading an `amqp://` or `amqps://` URL into an [`AmqpConfig`]: several
//! brokers, percent-decoded credentials and vhost, and RabbitMQ's query
//! options (see [`super::config`] for the list).

use url::Url;

use super::config::{AmqpConfig, DEFAULT_CONNECTION_TIMEOUT, DEFAULT_CONTROL_EXCHANGE};
use super::endpoint::{Endpoint, decode};
use super::tls::TlsOptions;
use crate::codec::DEFAULT_MAX_MESSAGE_SIZE;
use crate::error::RpcError;
use crate::wire::Wire;

impl AmqpConfig {
    /// Reads an `amqp://user:password@host:port/vhost?options` URL. Several
    /// brokers of a cluster may be listed, comma separated, as oslo allows:
    /// `amqp://u:p@h1:5672,h2:5672,u2:p2@h3/vhost`; a host without
    /// credentials uses the first host's.
    pub fn from_url(url: &str) -> Result<Self, RpcError> {
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| RpcError::config("not an AMQP URL (no `://`)"))?;
        let (tls, default_port) = match scheme {
            "amqp" => (None, 5672),
            "amqps" => (Some(TlsOptions::new()), 5671),
            other => {
                return Err(RpcError::config(format!(
                    "unsupported URL scheme `{other}`; expected `amqp` or `amqps`"
                )));
            }
        };
        let split = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authorities, tail) = rest.split_at(split);
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
            wire: Wire::Native,
            durable_exchange: false,
            connection_timeout: DEFAULT_CONNECTION_TIMEOUT,
            tls,
        };
        for (key, value) in parsed.query_pairs() {
            match &*key {
                "heartbeat" => {
                    config.heartbeat = value.parse().map_err(|_| {
                        RpcError::config(format!("`heartbeat={value}` is not a number of seconds"))
                    })?;
                }
                "control_exchange" => config.control_exchange = value.into_owned(),
                "connection_name" => config.connection_name = Some(value.into_owned()),
                "wire" => {
                    config.wire = Wire::parse(&value).ok_or_else(|| {
                        RpcError::config(format!("`wire={value}`: expected `native` or `oslo`"))
                    })?;
                }
                "durable_exchange" => {
                    config.durable_exchange = value.parse().map_err(|_| {
                        RpcError::config(format!(
                            "`durable_exchange={value}`: expected `true` or `false`"
                        ))
                    })?;
                }
                "connection_timeout" => {
                    let ms: u64 = value.parse().map_err(|_| {
                        RpcError::config(format!(
                            "`connection_timeout={value}` is not a number of milliseconds"
                        ))
                    })?;
                    config.connection_timeout = std::time::Duration::from_millis(ms.max(1));
                }
                "cacertfile" | "certfile" | "keyfile" | "server_name_indication" => {
                    let Some(tls) = config.tls.take() else {
                        return Err(RpcError::config(format!("`{key}` needs an `amqps://` URL")));
                    };
                    let value = value.into_owned();
                    config.tls = Some(match &*key {
                        "cacertfile" => tls.ca_file(value),
                        "server_name_indication" => tls.server_name(value),
                        "certfile" => tls.with_client_cert_file(value.into()),
                        _ => tls.with_client_key_file(value.into()),
                    });
                }
                other => {
                    return Err(RpcError::config(format!(
                        "unknown AMQP URL option `{other}`; known: heartbeat, control_exchange, connection_name, wire, durable_exchange, connection_timeout, cacertfile, certfile, keyfile, server_name_indication"
                    )));
                }
            }
        }
        if let Some(tls) = &config.tls {
            tls.check()?;
        }
        Ok(config)
    }
}
