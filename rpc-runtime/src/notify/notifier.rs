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
    topic: Arc<str>,
    declared: Arc<Mutex<HashSet<String>>>,
    max_queue_length: Option<u32>,
}

impl Notifier {
    /// A notifier publishing as `publisher_id` on the `notifications` topic.
    pub fn new(transport: &Transport, publisher_id: impl Into<String>) -> Self {
        Self {
            transport: transport.clone(),
            publisher_id: publisher_id.into().into(),
            topic: DEFAULT_TOPIC.into(),
            declared: Arc::default(),
            max_queue_length: None,
        }
    }

    /// The same notifier on another topic.
    pub fn topic(&self, topic: impl Into<String>) -> Self {
        Self {
            topic: topic.into().into(),
            ..self.clone()
        }
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

    /// Publishes one notification and waits for the broker's confirm.
    pub async fn notify<T: Serialize + ?Sized>(
        &self,
        context: &Context,
        priority: Priority,
        event_type: &str,
        payload: &T,
    ) -> Result<(), RpcError> {
        let key = priority.routing_key(&self.topic);
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
