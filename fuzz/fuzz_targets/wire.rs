//! Feeds arbitrary bytes to everything that reads a message from the
//! network: the request, reply and notification decoders of the native wire
//! format and the bincode codec. Nothing may panic or allocate without bound.
//!
//! Run with `cargo +nightly fuzz run wire` from `fuzz/`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rpc_runtime::codec::{Bincode, Codec};
use rpc_runtime::message::Message;
use rpc_runtime::wire::{NativeWire, WireFormat};

/// `[n][name n bytes][m][value m bytes]...` headers, then the `type`
/// (`[n][n bytes]`), the rest is the body.
fn message(data: &[u8]) -> Message {
    let mut message = Message::default();
    let mut rest = data;
    let take = |rest: &mut &[u8]| -> Option<String> {
        let (&len, tail) = rest.split_first()?;
        let len = usize::from(len % 64).min(tail.len());
        let (text, tail) = tail.split_at(len);
        *rest = tail;
        Some(String::from_utf8_lossy(text).into_owned())
    };
    let count = rest.first().map_or(0, |n| n % 8);
    rest = rest.get(1..).unwrap_or(&[]);
    for _ in 0..count {
        let (Some(name), Some(value)) = (take(&mut rest), take(&mut rest)) else { break };
        message.headers.insert(name, value);
    }
    message.kind = take(&mut rest).map(Into::into);
    message.body = rest.to_vec();
    message
}

fuzz_target!(|data: &[u8]| {
    let wire = NativeWire::default();
    let _ = wire.decode_request(message(data));
    let _ = wire.decode_reply(message(data));
    let _ = wire.decode_notification(message(data));
    let codec = Bincode::default();
    let _ = codec.decode::<(String, u32)>(data);
    let _ = codec.decode::<Vec<Vec<u64>>>(data);
    let _ = codec.decode::<Option<(u64, String, Vec<u8>)>>(data);
    let _ = codec.decode::<rpc_runtime::RpcError>(data);
});
