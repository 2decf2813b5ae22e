//! Notifications: events such as `volume.create.end` that services emit
//! and other services (billing, monitoring, search) consume, without the
//! sender knowing them — oslo.messaging's notifier and listeners.
//!
//! A [`Notifier`] publishes to `<topic>.<priority>` (default topic
//! `notifications`, so `notifications.info`) on the control exchange, with
//! publisher confirms. A [`NotificationListener`] consumes one or more topics
//! and priorities and hands each notification to a handler; listeners in
//! the same pool share one durable queue (each notification to one of them),
//! different pools each get every notification.
//!
//! ```
//! use rpc_runtime::notify::{NotificationListener, Notifier};
//! use rpc_runtime::{Context, Transport};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), rpc_runtime::RpcError> {
//! let transport = Transport::memory();
//! let billing = NotificationListener::builder(&transport)
//!     .pool("billing")
//!     .event_types(["volume.*"])
//!     .start(|n: rpc_runtime::notify::Notification| async move {
//!         let size: u32 = n.payload()?;
//!         println!("{} from {}: {size} GB", n.event_type(), n.publisher_id());
//!         Ok::<_, rpc_runtime::codec::CodecError>(())
//!     })
//!     .await?;
//! let notifier = Notifier::new(&transport, "volume.host-1");
//! notifier.info(&Context::new(), "volume.create.end", &10u32).await?;
//! # billing.shutdown().await;
//! # Ok(()) }
//! ```

mod filter;
mod listener;
mod notification;
mod notifier;

pub use crate::priority::Priority;
pub use filter::EventFilter;
pub use listener::{ListenerBuilder, ListenerStats, NotificationHandler, NotificationListener};
pub use notification::Notification;
pub use notifier::Notifier;

/// The default notification topic.
pub const DEFAULT_TOPIC: &str = "notifications";
