//! Per-call options: what a client sets for the calls and casts it sends
//! (oslo.messaging's `prepare()` keywords), in one value the client
//! carries and the wire formats read.
//!
//! An option lives here alone: a field, its builder method, and what it
//! means. The transport and the wire formats read the fields they act on;
//! a generated client sets any of them through `with_options`, so a new
//! option adds no method to any client and takes no name from a trait.
//!
//! ```
//! use std::time::Duration;
//! use rpc_runtime::CallOptions;
//!
//! let options = CallOptions::new()
//!     .timeout(Duration::from_secs(5))
//!     .call_monitor(Duration::from_secs(2))
//!     .fail_fast(true);
//! assert_eq!(options.timeout, Some(Duration::from_secs(5)));
//! ```

use std::sync::Arc;
use std::time::Duration;

/// How long a call waits for its reply unless told otherwise (oslo's
/// `rpc_response_timeout`).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// Options for the requests a client sends. `None` leaves a field to its
/// default (said on each).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CallOptions {
    /// How long a call waits for its reply, and a cast for the broker's
    /// confirm (oslo's `timeout`); `None`: [`crate::DEFAULT_TIMEOUT`]. A
    /// request made while handling another waits no longer than that
    /// one's caller.
    pub timeout: Option<Duration>,
    /// Refuse, before sending, any method newer than this version (oslo's
    /// `version_cap`: what the oldest server of the deployment speaks).
    pub version_cap: Option<Arc<str>>,
    /// Ask servers for heartbeats during calls (oslo's
    /// `call_monitor_timeout`): the server sends one every `silence / 2`
    /// while the manager works, and the call fails with
    /// [`crate::RpcError::Unresponsive`] after this long without one.
    pub call_monitor: Option<Duration>,
    /// While the transport reconnects, fail at once with
    /// [`crate::RpcError::Connection`] instead of waiting for the new
    /// connection (within the timeout); `None`: as the transport says
    /// ([`crate::Transport::with_fail_fast`]).
    pub fail_fast: Option<bool>,
    /// A cast not taken from its queue within this long is dropped by the
    /// broker (AMQP's per-message TTL), instead of waiting for a server as
    /// long as the queue lives: a cast that means nothing once stale (a
    /// capacity report, a cache refresh) never reaches a server that comes
    /// back an hour later. `None`: it waits. (A call's request always
    /// expires with its timeout.)
    pub cast_ttl: Option<Duration>,
}

impl CallOptions {
    /// No option set: every default.
    pub fn new() -> Self {
        Self::default()
    }

    /// See [`CallOptions::timeout`](#structfield.timeout).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// See [`CallOptions::version_cap`](#structfield.version_cap).
    pub fn version_cap(mut self, cap: impl Into<String>) -> Self {
        self.version_cap = Some(cap.into().into());
        self
    }

    /// See [`CallOptions::call_monitor`](#structfield.call_monitor).
    pub fn call_monitor(mut self, silence: Duration) -> Self {
        self.call_monitor = Some(silence);
        self
    }

    /// See [`CallOptions::fail_fast`](#structfield.fail_fast).
    pub fn fail_fast(mut self, fail_fast: bool) -> Self {
        self.fail_fast = Some(fail_fast);
        self
    }

    /// See [`CallOptions::cast_ttl`](#structfield.cast_ttl).
    pub fn cast_ttl(mut self, ttl: Duration) -> Self {
        self.cast_ttl = Some(ttl);
        self
    }

    /// The timeout a request waits for, the default filled in.
    pub fn timeout_or_default(&self) -> Duration {
        self.timeout.unwrap_or(DEFAULT_TIMEOUT)
    }

    /// What a cast carries on the wire: no timeout and no heartbeats (its
    /// sender waits for no reply).
    pub(crate) fn for_cast(&self) -> Self {
        Self {
            timeout: None,
            call_monitor: None,
            ..self.clone()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cast_is_sent_without_a_timeout_or_heartbeats() {
        let options = CallOptions::new()
            .timeout(Duration::from_secs(9))
            .call_monitor(Duration::from_secs(3))
            .version_cap("2.1");
        let cast = options.for_cast();
        assert_eq!((cast.timeout, cast.call_monitor), (None, None));
        assert_eq!(cast.version_cap.as_deref(), Some("2.1"));
        assert_eq!(
            CallOptions::new().timeout_or_default(),
            crate::DEFAULT_TIMEOUT
        );
    }
}
