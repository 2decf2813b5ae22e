//! The methods every server answers on each of its topics, without the
//! manager: `ping` (who serves, since when, how busy) and `describe` (the
//! service's methods). A trait method cannot take these names. Tools such as
//! `rpcctl` call them with JSON bodies.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::descriptor::{MethodKind, ServiceDescriptor};

/// The reserved name of the liveness method.
pub const PING: &str = "ping";
/// The reserved name of the introspection method.
pub const DESCRIBE: &str = "describe";

/// What a server answers to `ping`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PingReply {
    /// The server's name (oslo's `Target.server`).
    pub server: String,
    /// The machine it runs on.
    pub host: String,
    /// Its process id.
    pub pid: u32,
    /// Milliseconds since the server started.
    pub uptime_ms: u64,
    /// The topic that answered.
    pub topic: String,
    /// The service's trait name.
    pub service: String,
    /// The API version it speaks.
    pub version: String,
    /// Requests being handled right now.
    pub in_flight: usize,
    /// Each method that ran since the server started: how often, how often
    /// it failed, how long it took.
    pub methods: Vec<MethodStats>,
}

/// How many latency buckets [`MethodStats`] has.
pub const LATENCY_BUCKETS: usize = 96;
/// The upper bound of the first latency bucket.
const FIRST_BUCKET: Duration = Duration::from_micros(10);
/// Each bucket's upper bound is this many times the previous one's.
const BUCKET_GROWTH: f64 = 1.2;

/// One method's statistics on one server, since it started.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MethodStats {
    /// The method.
    pub method: String,
    /// Requests handled (whatever their outcome).
    pub handled: u64,
    /// Of those, the ones that ended with an error.
    pub errors: u64,
    /// Latencies as `(bucket, count)`, empty buckets left out: bucket `i`
    /// holds the requests that took up to 10 µs × 1.2^i (the last one, any
    /// longer).
    pub latency: Vec<(u16, u64)>,
}

impl MethodStats {
    /// The bucket a request that took `took` falls in.
    pub fn bucket_of(took: Duration) -> usize {
        let ratio = took.as_secs_f64() / FIRST_BUCKET.as_secs_f64();
        if ratio <= 1.0 {
            return 0;
        }
        let index = ratio.log(BUCKET_GROWTH).ceil();
        (index as usize).min(LATENCY_BUCKETS - 1)
    }

    /// The upper bound of bucket `index`.
    pub fn bucket_bound(index: usize) -> Duration {
        FIRST_BUCKET.mul_f64(BUCKET_GROWTH.powi(index as i32))
    }

    /// The latency under which a fraction `q` (0.5: the median) of the
    /// requests finished, within one bucket (20 %); `None` without requests.
    pub fn quantile(&self, q: f64) -> Option<Duration> {
        let total: u64 = self.latency.iter().map(|(_, n)| n).sum();
        if total == 0 {
            return None;
        }
        let wanted = ((total as f64) * q.clamp(0.0, 1.0)).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (index, count) in &self.latency {
            seen += count;
            if seen >= wanted {
                return Some(Self::bucket_bound(usize::from(*index)));
            }
        }
        None
    }

    /// What happened between `earlier` (a previous answer of the same
    /// server) and this one.
    pub fn since(&self, earlier: &MethodStats) -> MethodStats {
        let before = |index: u16| {
            earlier
                .latency
                .iter()
                .find(|(i, _)| *i == index)
                .map_or(0, |(_, n)| *n)
        };
        MethodStats {
            method: self.method.clone(),
            handled: self.handled.saturating_sub(earlier.handled),
            errors: self.errors.saturating_sub(earlier.errors),
            latency: self
                .latency
                .iter()
                .map(|(i, n)| (*i, n.saturating_sub(before(*i))))
                .filter(|(_, n)| *n > 0)
                .collect(),
        }
    }
}

/// What a server answers to `describe`: its service's descriptor, owned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceDescription {
    /// The trait's name.
    pub name: String,
    /// The default topic.
    pub topic: String,
    /// The API version.
    pub version: String,
    /// The namespace requests must name, if any.
    #[serde(default)]
    pub namespace: Option<String>,
    /// The trait's doc comment.
    pub docs: String,
    /// The methods.
    pub methods: Vec<MethodDescription>,
}

/// One method of a [`ServiceDescription`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MethodDescription {
    /// The method's name.
    pub name: String,
    /// `"call"` or `"cast"`.
    pub kind: String,
    /// The version that introduced it.
    pub since: Option<String>,
    /// `(name, type)` of each argument after the context.
    pub args: Vec<(String, String)>,
    /// The success type (a stream's item type).
    pub returns: String,
    /// The manager's error type, if any.
    pub error: Option<String>,
    /// The doc comment.
    pub docs: String,
}

impl From<&ServiceDescriptor> for ServiceDescription {
    fn from(service: &ServiceDescriptor) -> Self {
        Self {
            name: service.name.to_owned(),
            topic: service.topic.to_owned(),
            version: service.version.to_owned(),
            namespace: service.namespace.map(str::to_owned),
            docs: service.docs.to_owned(),
            methods: service
                .methods
                .iter()
                .map(|m| MethodDescription {
                    name: m.name.to_owned(),
                    kind: match m.kind {
                        MethodKind::Call => "call",
                        MethodKind::Cast => "cast",
                        MethodKind::Stream => "stream",
                    }
                    .to_owned(),
                    since: m.since.map(str::to_owned),
                    args: m
                        .args
                        .iter()
                        .map(|a| (a.name.to_owned(), a.ty.to_owned()))
                        .collect(),
                    returns: m.returns.to_owned(),
                    error: m.error.map(str::to_owned),
                    docs: m.docs.to_owned(),
                })
                .collect(),
        }
    }
}

/// What a server knows about itself, for `ping`.
#[derive(Debug, Clone)]
pub(crate) struct ServerFacts {
    pub(crate) name: String,
    pub(crate) started: Instant,
    pub(crate) in_flight: usize,
    pub(crate) methods: Vec<MethodStats>,
}

impl ServerFacts {
    pub(crate) fn ping(&self, topic: &str, service: &ServiceDescriptor) -> PingReply {
        PingReply {
            server: self.name.clone(),
            host: host_name(),
            pid: std::process::id(),
            uptime_ms: u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX),
            topic: topic.to_owned(),
            service: service.name.to_owned(),
            version: service.version.to_owned(),
            in_flight: self.in_flight,
            methods: self.methods.clone(),
        }
    }
}

fn host_name() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok())
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_buckets_give_quantiles_within_a_bucket() {
        let mut stats = MethodStats {
            method: "m".into(),
            handled: 0,
            errors: 0,
            latency: Vec::new(),
        };
        let mut buckets = std::collections::BTreeMap::new();
        for ms in 1..=100u64 {
            *buckets
                .entry(MethodStats::bucket_of(Duration::from_millis(ms)) as u16)
                .or_insert(0) += 1;
        }
        stats.latency = buckets.into_iter().collect();
        let p50 = stats.quantile(0.5).unwrap();
        let p99 = stats.quantile(0.99).unwrap();
        assert!(
            p50 >= Duration::from_millis(50) && p50 <= Duration::from_millis(60),
            "{p50:?}"
        );
        assert!(
            p99 >= Duration::from_millis(99) && p99 <= Duration::from_millis(119),
            "{p99:?}"
        );
        assert_eq!(MethodStats::bucket_of(Duration::ZERO), 0);
        assert_eq!(
            MethodStats::bucket_of(Duration::from_secs(3600)),
            LATENCY_BUCKETS - 1
        );

        let earlier = stats.clone();
        stats.latency.push((LATENCY_BUCKETS as u16 - 1, 2));
        stats.handled = 102;
        let delta = stats.since(&earlier);
        assert_eq!(delta.latency, vec![(LATENCY_BUCKETS as u16 - 1, 2)]);
        assert_eq!(delta.handled, 102);
    }
}
