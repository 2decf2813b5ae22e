//! Event type filters: exact names, or patterns where `*` matches any run
//! of characters (`volume.*` matches `volume.create.end`).

/// One event type pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventFilter {
    pattern: String,
}

impl EventFilter {
    /// A filter for `pattern`.
    pub fn new(pattern: impl Into<String>) -> Self {
        Self {
            pattern: pattern.into(),
        }
    }

    /// Whether `event_type` matches.
    pub fn matches(&self, event_type: &str) -> bool {
        glob(self.pattern.as_bytes(), event_type.as_bytes())
    }
}

/// `*` matches any run of bytes; everything else matches itself. Linear
/// backtracking on the last `*` only, so no pattern can blow up.
fn glob(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() && pattern[p] == b'*' {
            star = Some((p, t));
            p += 1;
        } else if p < pattern.len() && pattern[p] == text[t] {
            p += 1;
            t += 1;
        } else if let Some((star_p, star_t)) = star {
            p = star_p + 1;
            t = star_t + 1;
            star = Some((star_p, star_t + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|&b| b == b'*')
}

#[cfg(test)]
mod tests {
    use super::EventFilter;

    #[test]
    fn exact_and_wildcard_patterns() {
        let volume = EventFilter::new("volume.*");
        assert!(volume.matches("volume.create.end"));
        assert!(volume.matches("volume."));
        assert!(!volume.matches("backup.create.end"));
        assert!(!volume.matches("volume"));
        assert!(EventFilter::new("*.end").matches("volume.create.end"));
        assert!(EventFilter::new("volume.*.end").matches("volume.create.end"));
        assert!(!EventFilter::new("volume.*.end").matches("volume.create.start"));
        assert!(EventFilter::new("volume.create.end").matches("volume.create.end"));
        assert!(!EventFilter::new("volume.create.end").matches("volume.create.endx"));
        assert!(EventFilter::new("*").matches(""));
    }
}
