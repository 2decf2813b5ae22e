//! W3C trace context (`traceparent`) for requests, so a distributed trace
//! links a caller and the servers it reaches.
//!
//! A request from a caller whose [`Context`](crate::Context) has a trace
//! carries `traceparent: 00-<trace id>-<span id>-01`: the caller's trace id
//! and a new span id for every request. A request without one starts a new
//! trace at the server that receives it (as an OpenTelemetry server starts
//! a root span), so a caller without tracing pays nothing for it; a server
//! passing its context on keeps the trace. Servers record both ids in their
//! `rpc` tracing span.

use std::fmt;

/// A parsed `traceparent` value (version 00), kept as numbers: a new span
/// per request costs no allocation until the header is written.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct TraceParent {
    trace_id: u128,
    parent_id: u64,
    flags: u8,
}

impl TraceParent {
    /// Parses `00-<32 hex>-<16 hex>-<2 hex>` (lower case); anything else is `None`.
    pub fn parse(text: &str) -> Option<Self> {
        let mut parts = text.split('-');
        let (version, trace_id, parent_id, flags) =
            (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        let hex = |s: &str, len: usize| {
            s.len() == len && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        };
        if parts.next().is_some()
            || version != "00"
            || !hex(trace_id, 32)
            || !hex(parent_id, 16)
            || !hex(flags, 2)
        {
            return None;
        }
        let parsed = Self {
            trace_id: u128::from_str_radix(trace_id, 16).ok()?,
            parent_id: u64::from_str_radix(parent_id, 16).ok()?,
            flags: u8::from_str_radix(flags, 16).ok()?,
        };
        (parsed.trace_id != 0 && parsed.parent_id != 0).then_some(parsed)
    }

    /// A new trace with a new span.
    pub fn new_trace() -> Self {
        let random = uuid::Uuid::new_v4().as_u128();
        Self {
            trace_id: random,
            parent_id: new_span_id(),
            flags: 1,
        }
    }

    /// The same trace, one hop further: a new span id.
    pub fn child(&self) -> Self {
        Self {
            parent_id: new_span_id(),
            ..*self
        }
    }

    /// The 32-hex-digit trace id.
    pub fn trace_id(&self) -> String {
        format!("{:032x}", self.trace_id)
    }

    /// The trace id and the sending span's id, formatted only when shown
    /// (for log fields).
    pub(crate) fn ids(&self) -> (impl fmt::Display, impl fmt::Display) {
        (Hex32(self.trace_id), Hex16(self.parent_id))
    }

    /// The ids as numbers: trace id, span id, flags (to bridge another
    /// tracing system).
    pub fn raw(&self) -> (u128, u64, u8) {
        (self.trace_id, self.parent_id, self.flags)
    }

    /// A trace parent from its ids; `None` when either is zero.
    pub fn from_raw(trace_id: u128, parent_id: u64, flags: u8) -> Option<Self> {
        (trace_id != 0 && parent_id != 0).then_some(Self {
            trace_id,
            parent_id,
            flags,
        })
    }

    /// The 16-hex-digit id of the span that sent the request.
    pub fn parent_id(&self) -> String {
        format!("{:016x}", self.parent_id)
    }
}

fn new_span_id() -> u64 {
    // Never zero (an invalid span id).
    (uuid::Uuid::new_v4().as_u128() as u64) | 1
}

struct Hex32(u128);

impl fmt::Display for Hex32 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:032x}", self.0)
    }
}

struct Hex16(u64);

impl fmt::Display for Hex16 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

impl fmt::Display for TraceParent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "00-{:032x}-{:016x}-{:02x}",
            self.trace_id, self.parent_id, self.flags
        )
    }
}

impl fmt::Debug for TraceParent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TraceParent({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::TraceParent;

    #[test]
    fn parses_and_continues_traces() {
        let text = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let parent = TraceParent::parse(text).unwrap();
        assert_eq!(parent.to_string(), text);
        let child = parent.child();
        assert_eq!(child.trace_id(), parent.trace_id());
        assert_ne!(child.parent_id(), parent.parent_id());
        assert!(TraceParent::parse(&child.to_string()).is_some());
        assert!(TraceParent::parse(&TraceParent::new_trace().to_string()).is_some());
        for bad in [
            "",
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x",
        ] {
            assert!(TraceParent::parse(bad).is_none(), "{bad}");
        }
    }
}
