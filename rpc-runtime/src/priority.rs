//! A notification's priority (`INFO`, `WARN`, ...), as oslo.messaging names
//! them: what the wire formats write and the notifier routes by. Used as
//! `rpc_runtime::notify::Priority`.

/// A notification's priority, as oslo.messaging names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Priority {
    /// `audit`
    Audit,
    /// `debug`
    Debug,
    /// `info`
    Info,
    /// `warn`
    Warn,
    /// `error`
    Error,
    /// `critical`
    Critical,
    /// `sample`
    Sample,
}

impl Priority {
    /// Every priority.
    pub const ALL: [Priority; 7] = [
        Priority::Audit,
        Priority::Debug,
        Priority::Info,
        Priority::Warn,
        Priority::Error,
        Priority::Critical,
        Priority::Sample,
    ];

    /// Lower case, as in routing keys: `info`.
    pub fn as_str(self) -> &'static str {
        match self {
            Priority::Audit => "audit",
            Priority::Debug => "debug",
            Priority::Info => "info",
            Priority::Warn => "warn",
            Priority::Error => "error",
            Priority::Critical => "critical",
            Priority::Sample => "sample",
        }
    }

    /// Upper case, as in the message: `INFO`.
    pub fn name(self) -> &'static str {
        match self {
            Priority::Audit => "AUDIT",
            Priority::Debug => "DEBUG",
            Priority::Info => "INFO",
            Priority::Warn => "WARN",
            Priority::Error => "ERROR",
            Priority::Critical => "CRITICAL",
            Priority::Sample => "SAMPLE",
        }
    }

    /// Reads a name in either case (`WARNING` is `Warn`, as in oslo).
    pub fn from_name(name: &str) -> Option<Self> {
        let lower = name.to_ascii_lowercase();
        if lower == "warning" {
            return Some(Priority::Warn);
        }
        Priority::ALL.into_iter().find(|p| p.as_str() == lower)
    }

    /// The routing key of this priority on `topic`: `notifications.info`.
    pub fn routing_key(self, topic: &str) -> String {
        format!("{topic}.{}", self.as_str())
    }
}
