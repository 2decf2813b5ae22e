//! The typed half of one method, as a table of function pointers.
//!
//! Its arguments are an [`ArgList`] named by the table's [`ArgNames`] (see
//! [`crate::args`]), so the functions are shared by every method taking the
//! same argument types.
//!
//! The macro builds one `static` [`MethodTypes`] per method by calling a
//! generic function whose bounds (`WireType` on each argument and on the
//! return type, `ServiceError` on the error type) are given the user's own
//! type tokens. That call is the only place those bounds are checked, so a
//! type that cannot cross the wire is reported once, where the user wrote
//! it. The client and the dispatcher go through these pointers and need no
//! bounds of their own.

use std::fmt;
use std::marker::PhantomData;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::args::{ArgList, ArgNames, Named, NamedSeed};
use crate::codec::{AnyCodec, Codec, CodecError};
use crate::error::RpcError;
use crate::private::{NoError, ServiceError, WireType};
use crate::server::streams::Frames;
use crate::stream::RpcStream;
use crate::stream::frames::Frame;
use crate::wire::{ErrorReply, ReplyBody};

/// Encodes a method's arguments as the struct its names describe.
pub(crate) type EncodeArgs<A> = fn(&AnyCodec, ArgNames, &A) -> Result<Vec<u8>, CodecError>;

/// Decodes a method's arguments, named as given, from untrusted bytes.
pub(crate) type DecodeArgs<A> = fn(&AnyCodec, ArgNames, &[u8]) -> Result<A, CodecError>;

/// How one method's arguments `A`, manager output `O` and client result `C`
/// are encoded and decoded.
pub struct MethodTypes<A, O, C> {
    pub(crate) names: ArgNames,
    pub(crate) encode_args: EncodeArgs<A>,
    pub(crate) decode_args: DecodeArgs<A>,
    pub(crate) encode_output: fn(&AnyCodec, &O) -> Result<Option<ReplyBody>, CodecError>,
    pub(crate) decode_reply: fn(&AnyCodec, ReplyBody) -> C,
    pub(crate) fail: fn(RpcError) -> C,
}

/// A cast: no output; the client learns only of framework failures.
pub const fn cast<A: ArgList>(names: ArgNames) -> MethodTypes<A, (), Result<(), RpcError>> {
    MethodTypes {
        names,
        encode_args: encode::<A>,
        decode_args: decode::<A>,
        encode_output: no_output,
        decode_reply: cast_reply,
        fail: Err,
    }
}

/// A call whose manager returns `R`; the client gets `Result<R, RpcError>`.
pub const fn value<A: ArgList, R: WireType>(
    names: ArgNames,
) -> MethodTypes<A, R, Result<R, RpcError>> {
    MethodTypes {
        names,
        encode_args: encode::<A>,
        decode_args: decode::<A>,
        encode_output: value_output::<R>,
        decode_reply: value_reply::<R>,
        fail: Err,
    }
}

/// A call whose manager returns `Result<R, E>`; the client gets the same,
/// framework failures folded into `E` through `From<RpcError>`.
pub const fn fallible<A: ArgList, R: WireType, E: ServiceError>(
    names: ArgNames,
) -> MethodTypes<A, Result<R, E>, Result<R, E>> {
    MethodTypes {
        names,
        encode_args: encode::<A>,
        decode_args: decode::<A>,
        encode_output: result_output::<R, E>,
        decode_reply: result_reply::<R, E>,
        fail: fail_into::<R, E>,
    }
}

fn encode<A: ArgList>(codec: &AnyCodec, names: ArgNames, args: &A) -> Result<Vec<u8>, CodecError> {
    codec.encode(&Named { names, args })
}

fn decode<A: ArgList>(codec: &AnyCodec, names: ArgNames, body: &[u8]) -> Result<A, CodecError> {
    let list = PhantomData;
    codec.decode_seed(NamedSeed { names, list }, body)
}

fn no_output(_: &AnyCodec, _: &()) -> Result<Option<ReplyBody>, CodecError> {
    Ok(None)
}

fn value_output<R: Serialize>(
    codec: &AnyCodec,
    value: &R,
) -> Result<Option<ReplyBody>, CodecError> {
    Ok(Some(ReplyBody::Value(codec.encode(value)?)))
}

/// How many errors of a manager error's `source()` chain are sent.
const MAX_CAUSES: usize = 16;

fn result_output<R: Serialize, E: Serialize + std::error::Error>(
    codec: &AnyCodec,
    result: &Result<R, E>,
) -> Result<Option<ReplyBody>, CodecError> {
    Ok(Some(match result {
        Ok(value) => ReplyBody::Value(codec.encode(value)?),
        Err(error) => ReplyBody::Error(ErrorReply {
            body: codec.encode(error)?,
            message: error.to_string(),
            type_name: std::any::type_name::<E>().to_owned(),
            causes: std::iter::successors(error.source(), |e| e.source())
                .take(MAX_CAUSES)
                .map(ToString::to_string)
                .collect(),
        }),
    }))
}

fn cast_reply(_: &AnyCodec, _: ReplyBody) -> Result<(), RpcError> {
    Ok(())
}

fn value_reply<R: DeserializeOwned>(codec: &AnyCodec, reply: ReplyBody) -> Result<R, RpcError> {
    match decode_reply::<R, NoError>(codec, reply)? {
        Ok(value) => Ok(value),
        Err(never) => match never {},
    }
}

fn result_reply<R: DeserializeOwned, E: DeserializeOwned + From<RpcError>>(
    codec: &AnyCodec,
    reply: ReplyBody,
) -> Result<R, E> {
    decode_reply::<R, E>(codec, reply).unwrap_or_else(|error| {
        Err(remote_as_variant(codec, &error).unwrap_or_else(|| E::from(error)))
    })
}

/// A Python exception `VolumeNotFound(volume_id=7)` from an oslo.messaging
/// server, read as the variant `VolumeNotFound { volume_id: 7 }` of the
/// caller's error type when it has one of that name and shape.
fn remote_as_variant<E: DeserializeOwned>(codec: &AnyCodec, error: &RpcError) -> Option<E> {
    let RpcError::Remote { class, kwargs, .. } = error else {
        return None;
    };
    if !matches!(codec, AnyCodec::Json(_)) {
        return None;
    }
    let class = serde_json::to_string(class).ok()?;
    let unit = kwargs.trim().is_empty() || kwargs.trim() == "{}";
    let variant = if unit {
        class
    } else {
        format!("{{{class}:{kwargs}}}")
    };
    codec.decode(variant.as_bytes()).ok()
}

fn fail_into<R, E: From<RpcError>>(error: RpcError) -> Result<R, E> {
    Err(E::from(error))
}

/// A reply as `Ok(Ok(value))`, `Ok(Err(manager error))` or `Err(framework)`.
fn decode_reply<R: DeserializeOwned, E: DeserializeOwned>(
    codec: &AnyCodec,
    reply: ReplyBody,
) -> Result<Result<R, E>, RpcError> {
    let undecodable = |what: &str, e: CodecError| RpcError::Decode {
        what: format!("the {what}"),
        detail: e.to_string(),
    };
    match reply {
        ReplyBody::Value(body) => codec
            .decode(&body)
            .map(Ok)
            .map_err(|e| undecodable("reply", e)),
        ReplyBody::Error(error) => codec
            .decode(&error.body)
            .map(Err)
            .map_err(|e| undecodable("error reply", e)),
        ReplyBody::Failure(error) => Err(error),
    }
}

impl<A, O, C> fmt::Debug for MethodTypes<A, O, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MethodTypes")
    }
}

/// How a streaming method's arguments `A` and items `T` (or error `E`) are
/// encoded and decoded.
pub struct StreamTypes<A, T, E> {
    pub(crate) names: ArgNames,
    pub(crate) encode_args: EncodeArgs<A>,
    pub(crate) decode_args: DecodeArgs<A>,
    pub(crate) encode_stream: fn(AnyCodec, &'static str, RpcStream<T, E>) -> Frames,
    pub(crate) decode_item: fn(&AnyCodec, &[u8]) -> Result<T, E>,
    pub(crate) decode_end: fn(&AnyCodec, ReplyBody) -> Result<T, E>,
    pub(crate) fail: fn(RpcError) -> E,
}

/// A method returning `RpcStream<T, E>`.
pub const fn stream<A: ArgList, T: WireType, E: ServiceError>(
    names: ArgNames,
) -> StreamTypes<A, T, E> {
    StreamTypes {
        names,
        encode_args: encode::<A>,
        decode_args: decode::<A>,
        encode_stream: encode_stream::<T, E>,
        decode_item: decode_item::<T, E>,
        decode_end: decode_failure::<T, E>,
        fail: E::from,
    }
}

/// A manager's stream as frames; `method` names the streaming method in a
/// failure to encode.
fn encode_stream<T: WireType, E: ServiceError>(
    codec: AnyCodec,
    method: &'static str,
    items: RpcStream<T, E>,
) -> Frames {
    use futures_util::StreamExt as _;
    Box::pin(items.map(move |item| match item {
        Ok(value) => match codec.encode(&value) {
            Ok(body) => Frame::Item(body),
            Err(error) => Frame::Failed(ReplyBody::Failure(RpcError::Internal {
                method: method.to_owned(),
                detail: format!("the server could not encode an item: {error}"),
            })),
        },
        Err(error) => match result_output::<(), E>(&codec, &Err(error)) {
            Ok(Some(reply)) => Frame::Failed(reply),
            Ok(None) => Frame::End,
            Err(e) => Frame::Failed(ReplyBody::Failure(RpcError::Internal {
                method: method.to_owned(),
                detail: format!("the server could not encode an error: {e}"),
            })),
        },
    }))
}

fn decode_item<T: DeserializeOwned, E: From<RpcError>>(
    codec: &AnyCodec,
    body: &[u8],
) -> Result<T, E> {
    codec.decode(body).map_err(|e| {
        E::from(RpcError::Decode {
            what: "a stream item".to_owned(),
            detail: e.to_string(),
        })
    })
}

fn decode_failure<T, E: DeserializeOwned + From<RpcError>>(
    codec: &AnyCodec,
    reply: ReplyBody,
) -> Result<T, E> {
    Err(match decode_reply::<(), E>(codec, reply) {
        Ok(Err(error)) => error,
        Ok(Ok(())) => E::from(RpcError::Decode {
            what: "a stream's end".to_owned(),
            detail: "an error reply without an error".to_owned(),
        }),
        Err(error) => remote_as_variant(codec, &error).unwrap_or_else(|| E::from(error)),
    })
}

impl<A, T, E> fmt::Debug for StreamTypes<A, T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("StreamTypes")
    }
}
