//! One message as every transport carries it: the AMQP properties we use,
//! string headers, and the body.
//!
//! The AMQP transport maps this 1:1 onto `BasicProperties`; the in-memory
//! transport moves it as is. Headers that arrive with non-string values are
//! dropped on the way in, so nothing downstream trusts their type.

use std::borrow::Cow;

/// A message's properties and body. `Debug` shows the body's length only:
/// a request's body carries its context, auth token included.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Message {
    /// Matches a reply to its request.
    pub correlation_id: Option<String>,
    /// Where the reply goes (a queue name on the default exchange).
    pub reply_to: Option<String>,
    /// The AMQP `message_id`: unique per message sent (the AMQP transport
    /// stamps each confirmed publish), so a receiver can tell a message it
    /// took already when the broker delivers it again.
    pub message_id: Option<String>,
    /// The AMQP `type` property: a request's method, a reply's status
    /// (native wire). Borrowed when static, as most are.
    pub kind: Option<Cow<'static, str>>,
    /// The codec of the body (`application/x-bincode`).
    pub content_type: Option<Cow<'static, str>>,
    /// The body's text encoding, for text bodies (`utf-8`).
    pub content_encoding: Option<String>,
    /// Per-message TTL in milliseconds: the broker drops the message after it.
    pub expiration_ms: Option<u64>,
    /// Written to disk by the broker (delivery mode 2), for durable queues.
    pub persistent: bool,
    /// Application headers.
    pub headers: Headers,
    /// The encoded body.
    pub body: Vec<u8>,
    /// When the transport received the message (set on the receiving side
    /// only; relative timeouts count from here).
    pub received_at: Option<std::time::Instant>,
}

impl std::fmt::Debug for Message {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Message")
            .field("correlation_id", &self.correlation_id)
            .field("reply_to", &self.reply_to)
            .field("message_id", &self.message_id)
            .field("kind", &self.kind)
            .field("content_type", &self.content_type)
            .field("expiration_ms", &self.expiration_ms)
            .field("headers", &self.headers)
            .field("body_len", &self.body.len())
            .finish_non_exhaustive()
    }
}

/// A small ordered list of string headers (a message carries a handful).
/// `Debug` hides the value of `x-auth-token`.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Headers(Vec<(Cow<'static, str>, String)>);

impl std::fmt::Debug for Headers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut map = f.debug_map();
        for (name, value) in &self.0 {
            if name.eq_ignore_ascii_case(SECRET_HEADER) {
                map.entry(name, &"***");
            } else {
                map.entry(name, value);
            }
        }
        map.finish()
    }
}

/// `value`, read off the network, as the static string it equals in
/// `known` (no allocation), or else as an owned copy.
pub(crate) fn known_or_owned<'k>(
    value: &str,
    known: impl IntoIterator<Item = &'k &'static str>,
) -> Cow<'static, str> {
    match known.into_iter().find(|k| **k == value) {
        Some(known) => Cow::Borrowed(known),
        None => Cow::Owned(value.to_owned()),
    }
}

/// The header carrying a secret (the context's auth token).
pub(crate) const SECRET_HEADER: &str = "x-auth-token";

impl Headers {
    /// No headers.
    pub fn new() -> Self {
        Self(Vec::new())
    }

    /// Sets `name` to `value`, replacing an earlier value. Names are
    /// usually `&'static str` and then cost no allocation.
    pub fn insert(&mut self, name: impl Into<Cow<'static, str>>, value: impl Into<String>) {
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

    /// Removes `name`, returning its value.
    pub fn remove(&mut self, name: &str) -> Option<String> {
        let index = self.0.iter().position(|(n, _)| n == name)?;
        Some(self.0.remove(index).1)
    }

    /// All headers, in insertion order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(n, v)| (n.as_ref(), v.as_str()))
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

#[cfg(test)]
mod tests {
    use super::Headers;

    #[test]
    fn debug_hides_the_auth_token() {
        let mut headers = Headers::new();
        headers.insert("x-auth-token", "s3cret");
        headers.insert("x-user-id", "alice");
        let shown = format!("{headers:?}");
        assert!(
            !shown.contains("s3cret") && shown.contains("alice"),
            "{shown}"
        );
    }
}
