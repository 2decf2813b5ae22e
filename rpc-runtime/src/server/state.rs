//! What every service of one server shares about it: its name, start,
//! requests in flight, per-method statistics (for `ping`) and the streams
//! it sends.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::builtin::ServerFacts;

/// What every service of one server shares about it.
#[derive(Debug)]
pub(crate) struct ServerState {
    pub(super) name: String,
    started: std::time::Instant,
    /// Requests being handled, the asking one included.
    pub(super) in_flight: AtomicUsize,
    /// Callers see a manager's panic message (development only).
    pub(super) show_panics: bool,
    /// Per-method counts and latencies, for `ping`.
    pub(super) stats: super::stats::Stats,
    /// The streams being sent.
    pub(super) streams: Arc<super::streams::Streams>,
}

impl ServerState {
    pub(crate) fn new(name: &str, show_panics: bool) -> Self {
        Self {
            name: name.to_owned(),
            started: std::time::Instant::now(),
            in_flight: AtomicUsize::new(0),
            show_panics,
            stats: super::stats::Stats::default(),
            streams: Arc::default(),
        }
    }

    /// The facts `ping` reports about `service`, not counting the ping
    /// itself.
    pub(super) fn facts(&self, service: &str) -> ServerFacts {
        ServerFacts {
            name: self.name.clone(),
            started: self.started,
            in_flight: self.in_flight.load(Ordering::Relaxed).saturating_sub(1),
            methods: self.stats.of(service),
        }
    }
}

/// Counts a request as in flight while it lives.
pub(super) struct InFlight<'a>(&'a AtomicUsize);

impl<'a> InFlight<'a> {
    pub(super) fn new(counter: &'a AtomicUsize) -> Self {
        counter.fetch_add(1, Ordering::Relaxed);
        Self(counter)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}
