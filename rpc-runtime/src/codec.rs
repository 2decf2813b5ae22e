//! Body codecs: how arguments and results become bytes.
//!
//! [`Codec`] is the small seam the design asks for: bincode ([`Bincode`]) is
//! the native default, and another codec (JSON for oslo.messaging's wire
//! format, postcard, ...) is another implementation, not a rewrite.
//!
//! Decoding is for untrusted bytes: the body size is checked first, and
//! bincode's own allocation budget stops a small body that announces a huge
//! length from allocating it.

use std::marker::PhantomData;

use serde::Serialize;
use serde::de::{DeserializeOwned, DeserializeSeed};

/// The default largest body accepted by a decoder: 16 MiB.
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 16 * 1024 * 1024;

/// Why a value could not be encoded or decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CodecError {
    /// The body is bigger than the decoder accepts.
    #[error("body of {size} bytes exceeds the limit of {limit} bytes")]
    TooLarge {
        /// The body's size.
        size: usize,
        /// The configured limit.
        limit: usize,
    },
    /// The body decoded but bytes were left over.
    #[error("{extra} unexpected trailing bytes")]
    TrailingBytes {
        /// How many bytes were left.
        extra: usize,
    },
    /// The codec's own error, as text.
    #[error("{0}")]
    Invalid(String),
}

/// Encodes values to bytes and decodes them back, with a size limit.
pub trait Codec: Send + Sync + 'static {
    /// The AMQP `content_type` naming this codec.
    fn content_type(&self) -> &'static str;

    /// Encodes `value`.
    fn encode<T: Serialize + ?Sized>(&self, value: &T) -> Result<Vec<u8>, CodecError>;

    /// Decodes one whole value from untrusted `bytes`.
    fn decode<T: DeserializeOwned>(&self, bytes: &[u8]) -> Result<T, CodecError>;
}

/// bincode 2 (standard configuration: little endian, varints) through serde.
///
/// ```
/// use rpc_runtime::codec::{Bincode, Codec};
///
/// let codec = Bincode::default();
/// let bytes = codec.encode(&("db".to_string(), 10u32)).unwrap();
/// let back: (String, u32) = codec.decode(&bytes).unwrap();
/// assert_eq!(back, ("db".to_string(), 10));
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Bincode {
    max_size: usize,
}

impl Bincode {
    /// The content type we send and accept for bincode bodies.
    pub const CONTENT_TYPE: &'static str = "application/x-bincode";

    /// The capacity an encoding starts with (it grows past it as needed).
    const FIRST_CAPACITY: usize = 128;

    /// A codec refusing bodies above `max_size` bytes.
    pub fn with_max_size(max_size: usize) -> Self {
        Self { max_size }
    }

    /// The largest body this codec decodes.
    pub fn max_size(&self) -> usize {
        self.max_size
    }
}

impl Default for Bincode {
    fn default() -> Self {
        Self::with_max_size(DEFAULT_MAX_MESSAGE_SIZE)
    }
}

impl Codec for Bincode {
    fn content_type(&self) -> &'static str {
        Self::CONTENT_TYPE
    }

    fn encode<T: Serialize + ?Sized>(&self, value: &T) -> Result<Vec<u8>, CodecError> {
        // Room for a typical message up front: growing from empty would
        // reallocate several times per encoding.
        let mut bytes = Vec::with_capacity(Self::FIRST_CAPACITY);
        bincode::serde::encode_into_std_write(value, &mut bytes, bincode::config::standard())
            .map_err(|e| CodecError::Invalid(e.to_string()))?;
        Ok(bytes)
    }

    fn decode<T: DeserializeOwned>(&self, bytes: &[u8]) -> Result<T, CodecError> {
        self.decode_seed(PhantomData, bytes)
    }
}

impl Bincode {
    /// [`Codec::decode`] through a serde seed.
    fn decode_seed<'de, S: DeserializeSeed<'de>>(
        &self,
        seed: S,
        bytes: &'de [u8],
    ) -> Result<S::Value, CodecError> {
        within_limit(bytes, self.max_size)?;
        // bincode charges every allocation against a compile-time budget.
        // Pick the smallest budget that fits a legitimate value of this body
        // (in-memory sizes can exceed the varint-encoded size, hence the
        // factor), so that a few bytes cannot claim megabytes.
        let budget = bytes
            .len()
            .saturating_mul(32)
            .min(self.max_size.saturating_mul(4));
        let (value, read) = decode_with_budget(seed, bytes, budget)?;
        if read != bytes.len() {
            return Err(CodecError::TrailingBytes {
                extra: bytes.len() - read,
            });
        }
        Ok(value)
    }
}

/// Refuses a body over `limit` bytes before anything decodes it.
fn within_limit(bytes: &[u8], limit: usize) -> Result<(), CodecError> {
    if bytes.len() > limit {
        return Err(CodecError::TooLarge {
            size: bytes.len(),
            limit,
        });
    }
    Ok(())
}

/// JSON through serde_json, for tools (`rpcctl`) and oslo.messaging's wire
/// format. serde_json bounds nesting depth itself; the body size is checked
/// first.
#[derive(Debug, Clone, Copy)]
pub struct Json {
    max_size: usize,
}

impl Json {
    /// The content type of JSON bodies.
    pub const CONTENT_TYPE: &'static str = "application/json";

    /// A codec refusing bodies above `max_size` bytes.
    pub fn with_max_size(max_size: usize) -> Self {
        Self { max_size }
    }
}

impl Default for Json {
    fn default() -> Self {
        Self::with_max_size(DEFAULT_MAX_MESSAGE_SIZE)
    }
}

impl Codec for Json {
    fn content_type(&self) -> &'static str {
        Self::CONTENT_TYPE
    }

    fn encode<T: Serialize + ?Sized>(&self, value: &T) -> Result<Vec<u8>, CodecError> {
        serde_json::to_vec(value).map_err(|e| CodecError::Invalid(e.to_string()))
    }

    fn decode<T: DeserializeOwned>(&self, bytes: &[u8]) -> Result<T, CodecError> {
        self.decode_seed(PhantomData, bytes)
    }
}

impl Json {
    /// [`Codec::decode`] through a serde seed.
    fn decode_seed<'de, S: DeserializeSeed<'de>>(
        &self,
        seed: S,
        bytes: &'de [u8],
    ) -> Result<S::Value, CodecError> {
        within_limit(bytes, self.max_size)?;
        let invalid = |e: serde_json::Error| CodecError::Invalid(e.to_string());
        let mut deserializer = serde_json::Deserializer::from_slice(bytes);
        let value = seed.deserialize(&mut deserializer).map_err(invalid)?;
        deserializer.end().map_err(invalid)?;
        Ok(value)
    }
}

/// The codec a transport uses, chosen at run time (the request's content
/// type names it). Generic code calls it through [`Codec`].
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum AnyCodec {
    /// bincode, the native default.
    Bincode(Bincode),
    /// JSON.
    Json(Json),
}

impl Default for AnyCodec {
    fn default() -> Self {
        AnyCodec::Bincode(Bincode::default())
    }
}

impl AnyCodec {
    /// The largest body this codec accepts; senders check it too, so a
    /// message the other side would refuse is not sent at all.
    pub fn max_size(&self) -> usize {
        match self {
            AnyCodec::Bincode(codec) => codec.max_size(),
            AnyCodec::Json(codec) => codec.max_size,
        }
    }

    /// Decodes one whole value from untrusted `bytes` through a serde seed:
    /// for a value whose shape is known at run time only (a method's
    /// arguments, named by its descriptor).
    pub(crate) fn decode_seed<'de, S: DeserializeSeed<'de>>(
        &self,
        seed: S,
        bytes: &'de [u8],
    ) -> Result<S::Value, CodecError> {
        match self {
            AnyCodec::Bincode(codec) => codec.decode_seed(seed, bytes),
            AnyCodec::Json(codec) => codec.decode_seed(seed, bytes),
        }
    }

    /// The codec a message's content type names, with the same size limit;
    /// no content type means this codec. `None` for an unknown type.
    pub fn for_content_type(&self, content_type: Option<&str>) -> Option<AnyCodec> {
        let limit = self.max_size();
        match content_type {
            None => Some(*self),
            Some(Bincode::CONTENT_TYPE) => Some(AnyCodec::Bincode(Bincode::with_max_size(limit))),
            Some(Json::CONTENT_TYPE) => Some(AnyCodec::Json(Json::with_max_size(limit))),
            Some(_) => None,
        }
    }
}

impl Codec for AnyCodec {
    fn content_type(&self) -> &'static str {
        match self {
            AnyCodec::Bincode(codec) => codec.content_type(),
            AnyCodec::Json(codec) => codec.content_type(),
        }
    }

    fn encode<T: Serialize + ?Sized>(&self, value: &T) -> Result<Vec<u8>, CodecError> {
        match self {
            AnyCodec::Bincode(codec) => codec.encode(value),
            AnyCodec::Json(codec) => codec.encode(value),
        }
    }

    fn decode<T: DeserializeOwned>(&self, bytes: &[u8]) -> Result<T, CodecError> {
        match self {
            AnyCodec::Bincode(codec) => codec.decode(bytes),
            AnyCodec::Json(codec) => codec.decode(bytes),
        }
    }
}

/// Decodes a bincode value, borrowing from them, from the head of untrusted
/// `bytes` (at most `max_size` of them, and at most 1 MiB allocated);
/// returns it and how many bytes it took.
pub(crate) fn decode_head<'de, T: serde::Deserialize<'de>>(
    bytes: &'de [u8],
    max_size: usize,
) -> Result<(T, usize), CodecError> {
    if bytes.len() > max_size {
        return Err(CodecError::TooLarge {
            size: bytes.len(),
            limit: max_size,
        });
    }
    let config = bincode::config::standard().with_limit::<{ 1024 * 1024 }>();
    bincode::serde::borrow_decode_from_slice(bytes, config)
        .map_err(|e| CodecError::Invalid(e.to_string()))
}

fn decode_with_budget<'de, S: DeserializeSeed<'de>>(
    seed: S,
    bytes: &'de [u8],
    budget: usize,
) -> Result<(S::Value, usize), CodecError> {
    use bincode::config::standard;
    use bincode::serde::seed_decode_from_slice as decode;

    const KIB: usize = 1024;
    const MIB: usize = 1024 * KIB;
    let result = if budget <= 64 * KIB {
        decode(seed, bytes, standard().with_limit::<{ 64 * KIB }>())
    } else if budget <= MIB {
        decode(seed, bytes, standard().with_limit::<{ MIB }>())
    } else if budget <= 16 * MIB {
        decode(seed, bytes, standard().with_limit::<{ 16 * MIB }>())
    } else if budget <= 256 * MIB {
        decode(seed, bytes, standard().with_limit::<{ 256 * MIB }>())
    } else {
        decode(seed, bytes, standard().with_limit::<{ 1024 * MIB }>())
    };
    result.map_err(|e| CodecError::Invalid(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_oversized_and_trailing_bodies() {
        let codec = Bincode::with_max_size(8);
        assert_eq!(
            codec.decode::<Vec<u8>>(&[0; 9]),
            Err(CodecError::TooLarge { size: 9, limit: 8 })
        );
        let codec = Bincode::default();
        let mut bytes = codec.encode(&7u32).unwrap();
        bytes.push(0);
        assert_eq!(
            codec.decode::<u32>(&bytes),
            Err(CodecError::TrailingBytes { extra: 1 })
        );
    }

    #[test]
    fn a_huge_announced_length_is_refused_without_allocating() {
        // A varint length of u64::MAX / 2 followed by nothing.
        let body = [253, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f];
        let codec = Bincode::default();
        let err = codec.decode::<Vec<u8>>(&body).unwrap_err();
        assert!(matches!(err, CodecError::Invalid(_)), "{err:?}");
        let err = codec.decode::<String>(&body).unwrap_err();
        assert!(matches!(err, CodecError::Invalid(_)), "{err:?}");
    }
}
