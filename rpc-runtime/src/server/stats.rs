//! Per-method counts and latencies of one server since it started, for
//! `ping` (so `rpcctl top` can show them without any metrics backend).
//! Latencies go into logarithmic buckets ([`MethodStats`]), small enough to
//! travel in every ping answer.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use crate::builtin::{LATENCY_BUCKETS, MethodStats};

/// One server's statistics, by (service, method).
#[derive(Debug, Default)]
pub(super) struct Stats {
    methods: Mutex<BTreeMap<(&'static str, &'static str), Counts>>,
}

#[derive(Debug)]
struct Counts {
    handled: u64,
    errors: u64,
    buckets: Box<[u64; LATENCY_BUCKETS]>,
}

impl Stats {
    /// Counts one handled request.
    pub(super) fn record(
        &self,
        service: &'static str,
        method: &'static str,
        ok: bool,
        took: Duration,
    ) {
        let mut methods = self.methods.lock().unwrap_or_else(|p| p.into_inner());
        let counts = methods.entry((service, method)).or_insert_with(|| Counts {
            handled: 0,
            errors: 0,
            buckets: Box::new([0; LATENCY_BUCKETS]),
        });
        counts.handled += 1;
        if !ok {
            counts.errors += 1;
        }
        counts.buckets[MethodStats::bucket_of(took)] += 1;
    }

    /// The statistics of `service`'s methods that ran at least once.
    pub(super) fn of(&self, service: &str) -> Vec<MethodStats> {
        let methods = self.methods.lock().unwrap_or_else(|p| p.into_inner());
        methods
            .iter()
            .filter(|((s, _), _)| *s == service)
            .map(|((_, method), counts)| MethodStats {
                method: (*method).to_owned(),
                handled: counts.handled,
                errors: counts.errors,
                latency: counts
                    .buckets
                    .iter()
                    .enumerate()
                    .filter(|(_, n)| **n > 0)
                    .map(|(i, n)| (i as u16, *n))
                    .collect(),
            })
            .collect()
    }
}
