//! One message as every transport carries it: the AMQP properties we use,
//! string headers, and the body.
//!
//! The AMQP transport maps this 1:1 onto `BasicProperties`; the in-memory
//! transport moves it as is. Headers that arrive with non-string values are
//! dropped on the way in, so nothing downstream trusts their type.

/// A message's properties and body.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Message {
    /// Matches a reply to its request.
    pub correlation_id: Option<String>,
    /// Where the reply goes (a queue name on the default exchange).
    pub reply_to: Option<String>,
    /// The codec of the body (`application/x-bincode`).
    pub content_type: Option<String>,
    /// Per-message TTL in milliseconds: the broker drops the message after it.
    pub expiration_ms: Option<u64>,
    /// Application headers.
    pub headers: Headers,
    /// The encoded body.
    pub body: Vec<u8>,
}

/// A small ordered list of string headers (a message carries a handful).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Headers(Vec<(String, String)>);

impl Headers {
    /// No headers.
    pub fn new() -> Self {
        Self(Vec::new())
    }

    /// Sets `name` to `value`, replacing an earlier value.
    pub fn insert(&mut self, name: impl Into<String>, value: impl Into<String>) {
        let (name, value) = (name.into(), value.into());
        match self.0.iter_mut().find(|(n, _)| *n == name) {
            Some(slot) => slot.1 = value,
            None => self.0.push((name, value)),
        }
    }

    /// The value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// All headers, in insertion order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }

    /// How many headers there are.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True without headers.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}
