//! What RabbitMQ enforces that an AMQP client is never told and can only be
//! configured with or learn from the broker's refusals: how long a delivery
//! may stay unacked (`consumer_timeout`; past it the broker closes the
//! channel, `406 PRECONDITION_FAILED - delivery acknowledgement on channel 1
//! timed out. Timeout value used: 10000 ms`, and delivers the message
//! again) and how large a message may be (`max_message_size`; past it,
//! `406 PRECONDITION_FAILED - message size 2097152 is larger than
//! configured max size 1048576`). One [`Limits`] per transport: the broker's
//! settings hold for every connection to it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use super::config::AmqpConfig;
use super::refusal::after_number;

/// The broker's limits as known so far.
#[derive(Debug)]
pub(super) struct Limits {
    consumer_timeout_ms: AtomicU64,
    /// 0 while unknown.
    max_message_size: AtomicU64,
}

impl Limits {
    pub(super) fn new(config: &AmqpConfig) -> Self {
        let ms = u64::try_from(config.consumer_timeout_value().as_millis()).unwrap_or(u64::MAX);
        Self {
            consumer_timeout_ms: AtomicU64::new(ms),
            max_message_size: AtomicU64::new(0),
        }
    }

    /// How long a delivery may wait unacked before a server acks it anyway:
    /// three quarters of the broker's `consumer_timeout` (the broker checks
    /// it on a timer, so it never acts sooner).
    pub(super) fn settle_within(&self) -> Duration {
        Duration::from_millis(self.consumer_timeout_ms.load(Ordering::Relaxed) / 4 * 3)
    }

    /// The broker's `max_message_size`, once a refusal told it.
    pub(super) fn max_message_size(&self) -> Option<u64> {
        Some(self.max_message_size.load(Ordering::Relaxed)).filter(|size| *size > 0)
    }

    /// Learns what a channel's close says of a limit; true when it was the
    /// consumer timeout.
    pub(super) fn learn(&self, code: u16, text: &str) -> bool {
        if code != 406 {
            return false;
        }
        if text.contains("delivery acknowledgement") {
            if let Some(ms) = after_number(text, "Timeout value used: ") {
                let before = self.consumer_timeout_ms.swap(ms, Ordering::Relaxed);
                if before != ms {
                    tracing::warn!(
                        consumer_timeout_ms = ms,
                        "the broker took back a delivery left unacked too long (its consumer_timeout); deliveries that cannot be finished in time are now acked at three quarters of it (set AmqpConfig::consumer_timeout, or `consumer_timeout=` in the URL, to the broker's value)"
                    );
                }
            }
            return true;
        }
        if let Some(size) = after_number(text, "configured max size ") {
            self.max_message_size.store(size, Ordering::Relaxed);
        }
        false
    }
}

/// Warns when messages up to the configured limit would pass the broker's
/// default `max_message_size` (RabbitMQ does not tell its setting; a
/// message over it is refused, [`RpcError::TooLarge`], and from then on
/// the transport knows the limit).
pub(super) fn warn_of_size(config: &AmqpConfig, version: &str) {
    let (default, since) = match version
        .split('.')
        .next()
        .and_then(|m| m.parse::<u32>().ok())
    {
        Some(major) if major >= 4 => (16 * 1024 * 1024, "4.0"),
        _ => (128 * 1024 * 1024, "3.8"),
    };
    if config.max_size() > default {
        tracing::warn!(
            limit = config.max_size(),
            broker_default = default,
            %version,
            "the transport's max_message_size is larger than RabbitMQ's default since {since}; unless the broker's max_message_size was raised, messages over {default} bytes will be refused"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_broker_s_refusals_teach_its_limits() {
        let config = AmqpConfig::from_url("amqp://127.0.0.1").unwrap();
        let limits = Limits::new(&config);
        assert_eq!(limits.settle_within(), Duration::from_secs(30 * 60 / 4 * 3));
        assert_eq!(limits.max_message_size(), None);
        let timeout = "PRECONDITION_FAILED - delivery acknowledgement on channel 1 timed out. Timeout value used: 10000 ms. This timeout value can be configured, see consumers doc guide to learn more";
        assert!(limits.learn(406, timeout));
        assert_eq!(limits.settle_within(), Duration::from_millis(7500));
        let size =
            "PRECONDITION_FAILED - message size 2097152 is larger than configured max size 1048576";
        assert!(!limits.learn(406, size));
        assert_eq!(limits.max_message_size(), Some(1_048_576));
        assert!(!limits.learn(404, "NOT_FOUND - no queue 'x'"));
        assert!(!limits.learn(406, "Timeout value used: garbage"));
    }
}
