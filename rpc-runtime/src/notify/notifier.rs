//! Emitting notifications.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use serde::Serialize;

use super::{DEFAULT_TOPIC, Priority};
use crate::codec::Codec;
use crate::context::Context;
use crate::error::RpcError;
use crate::options::CallOptions;
use crate::transport::driver::{Durability, Source, Subscribe};
use crate::transport::{Destination, Transport};
use crate::wire::OutgoingNotification;

/// Publishes notifications for one publisher (e.g. `volume.host-1`).
///
/// As oslo.messaging's notifier, it declares the default queue of each
/// priority it uses (`notifications.info`, durable) so nothing is lost before
/// a listener exists; listeners in pools get their own queues.
#[derive(Debug, Clone)]
pub struct Notifier {
    transport: Transport,
    publisher_id: Arc<str>,
    /// Each notification goes to every topic (none: the notifier is off).
    topics: Arc<[String]>,
    declared: Arc<Mutex<HashSet<String>>>,
    max_queue_length: Option<u32>,
}

impl Notifier {
    /// A notifier publishing as `publisher_id` on the `notifications` topic.
    pub fn new(transport: &Transport, publisher_id: impl Into<String>) -> Self {
        Self {
            transport: transport.clone(),
            publisher_id: publisher_id.into().into(),
            topics: Arc::from([DEFAULT_TOPIC.to_owned()]),
            declared: Arc::default(),
            max_queue_length: None,
        }
    }

    /// The same notifier on another topic.
    pub fn topic(&self, topic: impl Into<String>) -> Self {
        self.topics([topic.into()])
    }

    /// The same notifier sending each notification to every one of
    /// `topics` (none: it sends nothing).
    pub fn topics(&self, topics: impl IntoIterator<Item = String>) -> Self {
        Self {
            topics: topics.into_iter().collect(),
            ..self.clone()
        }
    }

    /// A notifier as an OpenStack service's `[oslo_messaging_notifications]`
    /// sets it up: to each of `topics` (default `notifications`), or none
    /// at all when `driver` is unset or `noop` (as oslo.messaging does);
    /// `messaging` and `messagingv2` both send the v2 envelope this
    /// runtime speaks. Another driver (`log`, `routing`, ...) is refused.
    ///
    /// ```
    /// # async fn run() -> Result<(), rpc_runtime::RpcError> {
    /// use rpc_runtime::notify::Notifier;
    /// use rpc_runtime::transport::amqp::OsloConfig;
    ///
    /// let conf = OsloConfig::parse(
    ///     "[DEFAULT]\ntransport_url = rabbit://h/\n\
    ///      [oslo_messaging_notifications]\ndriver = messagingv2\ntopics = notifications,audit\n",
    /// )?;
    /// let transport = rpc_runtime::Transport::memory();
    /// let notifier = Notifier::from_oslo_config(&transport, &conf, "compute.host-1")?;
    /// assert_eq!(notifier.sends_to(), ["notifications", "audit"]);
    /// # Ok(()) }
    /// ```
    pub fn from_oslo_config(
        transport: &Transport,
        conf: &crate::transport::amqp::OsloConfig,
        publisher_id: impl Into<String>,
    ) -> Result<Self, RpcError> {
        let notifier = Self::new(transport, publisher_id);
        let sends = conf.notification_driver().iter().try_fold(false, |sends, driver| {
            match driver.as_str() {
                "messaging" | "messagingv2" => Ok(true),
                "noop" => Ok(sends),
                other => Err(RpcError::config(format!(
                    "[oslo_messaging_notifications] driver = {other}: this runtime sends notifications over the transport only (`messagingv2`, `messaging`) or not at all (`noop`)"
                ))),
            }
        })?;
        if !sends {
            return Ok(notifier.topics([]));
        }
        match conf.notification_topics() {
            [] => Ok(notifier),
            topics => Ok(notifier.topics(topics.iter().cloned())),
        }
    }

    /// The topics each notification goes to (none: it sends nothing).
    pub fn sends_to(&self) -> &[String] {
        &self.topics
    }

    /// Bounds the default queues it declares: at most `max` notifications
    /// wait, the oldest are dropped first, so a queue nobody reads (oslo's
    /// `notifications.info` growing forever) stays small. Listeners without
    /// a pool must use the same bound: RabbitMQ refuses to redeclare a queue
    /// with other arguments.
    pub fn max_queue_length(&self, max: u32) -> Self {
        Self {
            max_queue_length: Some(max),
            ..self.clone()
        }
    }

    /// Publishes one notification to each of its topics and waits for the
    /// broker's confirms.
    pub async fn notify<T: Serialize + ?Sized>(
        &self,
        context: &Context,
        priority: Priority,
        event_type: &str,
        payload: &T,
    ) -> Result<(), RpcError> {
        for topic in self.topics.iter() {
            self.notify_on(topic, context, priority, event_type, payload)
                .await?;
        }
        Ok(())
    }

    async fn notify_on<T: Serialize + ?Sized>(
        &self,
        topic: &str,
        context: &Context,
        priority: Priority,
        event_type: &str,
        payload: &T,
    ) -> Result<(), RpcError> {
        let key = priority.routing_key(topic);
        crate::topology::check_name("notification topic", &key)?;
        self.declare_default_queue(&key).await?;
        let wire = self.transport.wire();
        let payload = wire.codec().encode(payload).map_err(|e| RpcError::Encode {
            what: format!("the payload of `{event_type}`"),
            detail: e.to_string(),
        })?;
        let message_id = uuid::Uuid::new_v4().to_string();
        let message = wire.encode_notification(OutgoingNotification {
            priority,
            event_type,
            publisher_id: &self.publisher_id,
            message_id: &message_id,
            timestamp: SystemTime::now(),
            context,
            payload,
        });
        let destination = Destination::RoutingKey { key };
        self.transport
            .cast_named(event_type, &destination, message, &CallOptions::new())
            .await
    }

    async fn declare_default_queue(&self, key: &str) -> Result<(), RpcError> {
        let known = self
            .declared
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(key);
        if known {
            return Ok(());
        }
        let spec = Subscribe {
            source: Source::Notifications {
                pool: None,
                keys: vec![key.to_owned()],
            },
            prefetch: 0,
            durability: Durability::Durable,
            max_length: self.max_queue_length,
            expires: None,
        };
        self.transport.declare(spec).await?;
        self.declared
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key.to_owned());
        Ok(())
    }
}

/// One shorthand per priority: `notifier.info(&ctx, "volume.create.end", &payload)`.
macro_rules! priority_methods {
    ($($name:ident => $priority:ident),* $(,)?) => {
        impl Notifier {
            $(
                #[doc = concat!("[`Notifier::notify`] at [`Priority::", stringify!($priority), "`].")]
                pub async fn $name<T: Serialize + ?Sized>(
                    &self,
                    ctx: &Context,
                    event_type: &str,
                    payload: &T,
                ) -> Result<(), RpcError> {
                    self.notify(ctx, Priority::$priority, event_type, payload).await
                }
            )*
        }
    };
}

priority_methods!(
    audit => Audit,
    debug => Debug,
    info => Info,
    warn => Warn,
    error => Error,
    critical => Critical,
    sample => Sample,
);

#[cfg(test)]
mod tests {
    use super::Notifier;
    use crate::transport::Transport;
    use crate::transport::amqp::OsloConfig;

    fn notifier(notifications: &str) -> Result<Notifier, crate::RpcError> {
        let text = format!(
            "[DEFAULT]\ntransport_url = rabbit://h/\n[oslo_messaging_notifications]\n{notifications}"
        );
        let conf = OsloConfig::parse(&text)?;
        Notifier::from_oslo_config(&Transport::memory(), &conf, "volume.host-1")
    }

    #[test]
    fn oslo_sends_notifications_only_with_a_messaging_driver() {
        let on = notifier("driver = messagingv2\n").expect("a notifier");
        assert_eq!(on.sends_to(), ["notifications"]);
        assert!(notifier("").expect("a notifier").sends_to().is_empty());
        assert!(
            notifier("driver = noop\n")
                .expect("a notifier")
                .sends_to()
                .is_empty()
        );
        let refused = notifier("driver = log\n").expect_err("refused");
        assert!(refused.to_string().contains("driver = log"), "{refused}");
    }
}
