//! AMQP connection settings, read from an `amqp://` URL.
//!
//! The URL follows RabbitMQ's URI spec: user, password and vhost are
//! percent-decoded (`amqp://u:p@h:5672/%2f` is vhost `/`), the port defaults
//! to 5672, and a missing or empty vhost means `/`. Query options:
//! `heartbeat=<seconds>`, `control_exchange=<name>`, `connection_name=<name>`,
//! `wire=native|oslo`, `durable_exchange=true|false`,
//! `connection_timeout=<ms>`, `consumer_timeout=<ms>`, and for `amqps://`
//! (TLS, port 5671 by default) `cacertfile=<pem>`, `certfile=<pem>`,
//! `keyfile=<pem>`, `server_name_indication=<name>`, as RabbitMQ's URI spec
//! names them; oslo.messaging's `[oslo_messaging_rabbit]` options as it
//! names them (`rabbit_quorum_queue`, `rabbit_stream_fanout`, ...; see
//! [`super::rabbit_queues`]).
//!
//! The password is kept in a [`Secret`]: `Debug`, `Display`, logs and errors
//! show the URL with `***` in its place.

use std::fmt;
use std::sync::Arc;

use super::endpoint::Endpoint;
use super::rabbit_queues::RabbitQueues;
use super::tls::TlsOptions;
use crate::error::RpcError;
use crate::secret::Secret;
use crate::transport::Transport;
use crate::transport::driver::Durability;
use crate::wire::{Wire, WireFormat};

/// How long opening a connection (TCP, TLS and the AMQP handshake) may
/// take before the next broker of the URL is tried.
pub const DEFAULT_CONNECTION_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// RabbitMQ's default `consumer_timeout`: how long a delivery may stay
/// unacked before the broker takes it back (closing the channel).
pub const DEFAULT_CONSUMER_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30 * 60);

pub use crate::topology::DEFAULT_CONTROL_EXCHANGE;

/// How to reach and use a RabbitMQ broker.
///
/// ```
/// use rpc_runtime::AmqpConfig;
///
/// let config = AmqpConfig::from_url("amqp://nova:s%40cret@rabbit:5673/%2fcloud?heartbeat=30")?
///     .control_exchange("nova");
/// assert_eq!(config.host(), "rabbit");
/// assert_eq!(config.port(), 5673);
/// assert_eq!(config.vhost(), "/cloud");
/// assert_eq!(config.heartbeat(), 30);
/// assert!(!format!("{config:?} {config}").contains("s@cret"));
/// # Ok::<(), rpc_runtime::RpcError>(())
/// ```
#[derive(Clone)]
pub struct AmqpConfig {
    pub(super) endpoints: Vec<Endpoint>,
    pub(super) vhost: String,
    pub(super) heartbeat: u16,
    pub(super) control_exchange: String,
    pub(super) connection_name: Option<String>,
    pub(super) max_message_size: usize,
    pub(super) wire: Wire,
    /// A wire format of the program's own, instead of `wire`.
    pub(super) format: Option<Arc<dyn WireFormat>>,
    pub(super) durable_exchange: bool,
    pub(super) connection_timeout: std::time::Duration,
    pub(super) consumer_timeout: std::time::Duration,
    pub(super) tls: Option<TlsOptions>,
    /// How servers on this transport keep their queues unless told
    /// otherwise (oslo's `amqp_durable_queues`, `rabbit_quorum_queue`).
    pub(super) queue_durability: Durability,
    /// oslo's newer queue options (stream fanout, transient quorum, ...).
    pub(super) rabbit_queues: RabbitQueues,
}

impl AmqpConfig {
    /// Sets the topic exchange requests go through (oslo's `control_exchange`,
    /// default `openstack`).
    pub fn control_exchange(mut self, name: impl Into<String>) -> Self {
        self.control_exchange = name.into();
        self
    }

    /// Sets the AMQP heartbeat in seconds (default 60; 0 disables it).
    pub fn with_heartbeat(mut self, seconds: u16) -> Self {
        self.heartbeat = seconds;
        self
    }

    /// Names the connection, as shown by `rabbitmqctl list_connections name`.
    pub fn connection_name(mut self, name: impl Into<String>) -> Self {
        self.connection_name = Some(name.into());
        self
    }

    /// The largest message body accepted (default 16 MiB).
    pub fn max_message_size(mut self, bytes: usize) -> Self {
        self.max_message_size = bytes;
        self
    }

    /// Sets the wire format (default [`Wire::Native`]); [`Wire::Oslo`]
    /// speaks to oslo.messaging services.
    pub fn wire(mut self, wire: Wire) -> Self {
        self.wire = wire;
        self.format = None;
        self
    }

    /// Speaks a wire format of your own (see [`WireFormat`]), with this
    /// configuration's body size limit.
    pub fn format(mut self, format: Arc<dyn WireFormat>) -> Self {
        self.format = Some(format);
        self
    }

    /// Declares the control exchange durable (default: not, as
    /// oslo.messaging's default). RabbitMQ refuses a second declaration
    /// that differs, so this must match the deployment: oslo.messaging
    /// services with `amqp_durable_queues = true` or quorum queues declare
    /// it durable.
    pub fn durable_exchange(mut self, durable: bool) -> Self {
        self.durable_exchange = durable;
        self
    }

    /// Sets how long opening a connection may take before the next broker
    /// is tried (default 10 s): a broker that accepts TCP but never answers
    /// (a paused or overloaded node) must not hang the client.
    pub fn connection_timeout(mut self, timeout: std::time::Duration) -> Self {
        self.connection_timeout = timeout;
        self
    }

    /// Tells the transport the broker's `consumer_timeout` (default
    /// RabbitMQ's, 30 minutes): a server acks a delivery it cannot finish
    /// in time (all its slots busy, or an after-handling cast still
    /// running) at three quarters of it, before the broker takes it back
    /// to deliver it again. The transport also learns the broker's value
    /// the first time the broker enforces it.
    pub fn consumer_timeout(mut self, timeout: std::time::Duration) -> Self {
        self.consumer_timeout = timeout;
        self
    }

    /// Connects over TLS with these options (as an `amqps://` URL does).
    pub fn tls(mut self, options: TlsOptions) -> Self {
        self.tls = Some(options);
        self
    }

    /// Opens the connection and returns a transport using it.
    pub async fn connect(self) -> Result<Transport, RpcError> {
        super::AmqpDriver::connect(self).await
    }

    /// The (first) broker's host.
    pub fn host(&self) -> &str {
        self.endpoints[0].host()
    }

    /// The (first) broker's port.
    pub fn port(&self) -> u16 {
        self.endpoints[0].port()
    }

    /// The (first) broker's user name.
    pub fn username(&self) -> &str {
        self.endpoints[0].username()
    }

    /// The (first) broker's password (redacted in `Debug`).
    pub fn password(&self) -> &Secret {
        self.endpoints[0].password()
    }

    /// Every broker of the URL, tried in turn.
    pub fn endpoints(&self) -> &[Endpoint] {
        &self.endpoints
    }

    /// The virtual host.
    pub fn vhost(&self) -> &str {
        &self.vhost
    }

    /// The heartbeat in seconds.
    pub fn heartbeat(&self) -> u16 {
        self.heartbeat
    }

    /// The control exchange.
    pub fn exchange(&self) -> &str {
        &self.control_exchange
    }

    /// The connection's name, if set.
    pub fn name(&self) -> Option<&str> {
        self.connection_name.as_deref()
    }

    /// The largest body accepted.
    pub fn max_size(&self) -> usize {
        self.max_message_size
    }

    /// The broker's `consumer_timeout`, as configured.
    pub fn consumer_timeout_value(&self) -> std::time::Duration {
        self.consumer_timeout
    }

    /// How long opening a connection may take.
    pub fn connect_timeout(&self) -> std::time::Duration {
        self.connection_timeout
    }

    /// The TLS options, when connecting over TLS.
    pub fn tls_options(&self) -> Option<&TlsOptions> {
        self.tls.as_ref()
    }

    /// The built-in wire format chosen (see also [`AmqpConfig::format`]).
    pub fn wire_format(&self) -> Wire {
        self.wire
    }

    /// The wire format a transport of this configuration speaks.
    pub(super) fn speaks(&self) -> Arc<dyn WireFormat> {
        match &self.format {
            Some(format) => format.with_max_size(self.max_size()),
            None => self.wire.format(self.max_size()),
        }
    }

    /// How servers on this transport keep their queues unless their
    /// builder says otherwise.
    pub fn queue_durability(&self) -> Durability {
        self.queue_durability
    }

    /// Servers on this transport keep their queues so unless their builder
    /// says otherwise (the URL's `amqp_durable_queues`,
    /// `rabbit_quorum_queue`).
    pub fn with_queue_durability(mut self, durability: Durability) -> Self {
        self.queue_durability = durability;
        self
    }

    /// The control exchange, as declared.
    pub(super) fn control(&self) -> super::declare::ControlExchange {
        super::declare::ControlExchange {
            name: self.control_exchange.clone(),
            durable: self.durable_exchange,
        }
    }
}

/// The URL with the passwords replaced by `***`.
impl fmt::Display for AmqpConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let vhost = percent_encoding::utf8_percent_encode(&self.vhost, VHOST).to_string();
        let hosts: Vec<String> = self.endpoints.iter().map(Endpoint::to_string).collect();
        let scheme = if self.tls.is_some() { "amqps" } else { "amqp" };
        write!(f, "{scheme}://{}/{vhost}", hosts.join(","))
    }
}

const VHOST: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.');

impl fmt::Debug for AmqpConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AmqpConfig")
            .field("url", &self.to_string())
            .field("heartbeat", &self.heartbeat)
            .field("control_exchange", &self.control_exchange)
            .field("connection_name", &self.connection_name)
            .field("max_message_size", &self.max_message_size)
            .field(
                "wire",
                &self.format.as_ref().map_or(self.wire.name(), |f| f.name()),
            )
            .field("durable_exchange", &self.durable_exchange)
            .field("connection_timeout", &self.connection_timeout)
            .field("tls", &self.tls)
            .field("queue_durability", &self.queue_durability)
            .field("rabbit_queues", &self.rabbit_queues)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_the_parts_of_the_url() {
        let c = AmqpConfig::from_url("amqp://u%3Ax:p%2Fw@h:5672/%2f").unwrap();
        assert_eq!(
            (c.username(), c.password().expose(), c.vhost()),
            ("u:x", "p/w", "/")
        );
        let c = AmqpConfig::from_url("amqp://h").unwrap();
        assert_eq!((c.username(), c.port(), c.vhost()), ("guest", 5672, "/"));
        let c = AmqpConfig::from_url("amqp://h/").unwrap();
        assert_eq!(c.vhost(), "/");
        let c = AmqpConfig::from_url("amqp://h/prod?control_exchange=nova&heartbeat=0").unwrap();
        assert_eq!(
            (c.vhost(), c.exchange(), c.heartbeat()),
            ("prod", "nova", 0)
        );
        let c = AmqpConfig::from_url("amqp://[::1]:5673").unwrap();
        assert_eq!((c.host(), c.port()), ("::1", 5673));
    }

    #[test]
    fn refuses_bad_urls_without_echoing_the_password() {
        for url in [
            "http://u:hunter2@h",
            "amqp://u:hunter2@h/?bogus=1",
            "amqp://u:hunter2@h/?heartbeat=x",
            "amqp://u:hunter2@h/?cacertfile=/ca.pem",
            "amqps://u:hunter2@h/?certfile=/c.pem",
            "amqp://u:hunter2@:5672",
            "not a url hunter2",
        ] {
            let err = AmqpConfig::from_url(url).unwrap_err();
            assert!(matches!(err, RpcError::Config(_)), "{url}: {err:?}");
            assert!(!err.to_string().contains("hunter2"), "{url}: {err}");
        }
    }

    #[test]
    fn lists_several_brokers() {
        let c = AmqpConfig::from_url("amqp://u:hunter2@h1:5673,h2,v:p2@h3:5674/%2fx?heartbeat=5")
            .unwrap();
        let hosts: Vec<_> = c
            .endpoints()
            .iter()
            .map(|e| (e.host(), e.port(), e.username()))
            .collect();
        assert_eq!(
            hosts,
            [("h1", 5673, "u"), ("h2", 5672, "u"), ("h3", 5674, "v")]
        );
        assert_eq!(c.endpoints()[1].password().expose(), "hunter2");
        assert_eq!(c.endpoints()[2].password().expose(), "p2");
        assert_eq!((c.vhost(), c.heartbeat()), ("/x", 5));
        let shown = format!("{c} {c:?}");
        assert!(
            !shown.contains("hunter2") && !shown.contains("p2@"),
            "{shown}"
        );
    }

    /// nova.conf's `transport_url`, unchanged.
    #[test]
    fn reads_oslo_transport_urls() {
        let c =
            AmqpConfig::from_url("rabbit://nova:s3cret@ctl1:5672,nova2:other@ctl2:5673/").unwrap();
        assert_eq!(c.wire_format(), Wire::Oslo, "rabbit:// speaks oslo's wire");
        assert_eq!(c.vhost(), "/", "an empty path is vhost /");
        let hosts: Vec<String> = c.endpoints().iter().map(ToString::to_string).collect();
        assert_eq!(hosts, ["nova:***@ctl1:5672", "nova2:***@ctl2:5673"]);
        assert_eq!(c.endpoints()[1].password().expose(), "other");
        let c = AmqpConfig::from_url(
            "rabbit://u:p@h/openstack?ssl=1&ssl_ca_file=/etc/ca.pem&heartbeat_timeout_threshold=30&rabbit_quorum_queue=true&control_exchange=nova&wire=native",
        );
        let c = c.unwrap_or_else(|e| panic!("{e}"));
        assert!(c.tls_options().is_some());
        assert_eq!((c.port(), c.heartbeat(), c.exchange()), (5671, 30, "nova"));
        assert_eq!(c.vhost(), "openstack");
        assert_eq!(c.wire_format(), Wire::Native, "wire= wins");
        assert_eq!(
            c.queue_durability(),
            Durability::Replicated {
                delivery_limit: None
            }
        );
        let durable = AmqpConfig::from_url("rabbit://u:p@h/?amqp_durable_queues=1").unwrap();
        assert_eq!(durable.queue_durability(), Durability::Durable);
        assert!(AmqpConfig::from_url("rabbit://u:p@h/?ssl_ca_file=/ca.pem").is_err());
        assert!(AmqpConfig::from_url("rabbit://u:p@h/?ssl=maybe").is_err());
    }

    #[test]
    fn display_and_debug_hide_the_password() {
        let c = AmqpConfig::from_url("amqp://u:hunter2@h:5672/%2f").unwrap();
        assert_eq!(c.to_string(), "amqp://u:***@h:5672/%2F");
        assert!(!format!("{c:?}").contains("hunter2"));
    }
}
