//! An `Option` argument left out of a request reads as `None` on both
//! wires: a request goes through the wire format (encode, seal, unseal,
//! decode) and its arguments are read the way a generated service reads
//! them (`args::NamedSeed`).
//!
//! - oslo: the `args` object lacks the key (a Python caller leaving out a
//!   keyword argument with a default of `None`);
//! - native with JSON bodies (what `rpcctl` sends): the object lacks the key;
//! - native with bincode (generated clients): positional, so an `Option` is
//!   always there, `None` in place; a body one argument short is refused.

use std::marker::PhantomData;

use super::{NativeWire, OsloWire, OutgoingRequest, WireFormat};
use crate::args::{ArgNames, Named, NamedSeed};
use crate::codec::{AnyCodec, Bincode, Codec, Json};
use crate::context::Context;
use crate::options::CallOptions;

/// `adopt(name: String, species: Option<String>)`.
const ADOPT: ArgNames = ArgNames {
    name: "__RpcArgs_adopt",
    fields: &["name", "species"],
};

type Adopt = (String, (Option<String>, ()));

/// The arguments a server reads from a request whose encoded arguments
/// are `body`, sent through `wire`.
fn received(wire: &dyn WireFormat, body: Vec<u8>) -> Result<Adopt, String> {
    let context = Context::new();
    let mut message = wire.encode_request(OutgoingRequest {
        method: "adopt".into(),
        version: "1.0",
        namespace: None,
        context: &context,
        trace: None,
        options: &CallOptions::default(),
        body,
    });
    message.correlation_id = Some("c1".into());
    message.reply_to = Some("reply_x".into());
    let message = wire.unseal(wire.seal(message).map_err(|e| e.to_string())?);
    let request = wire
        .decode_request(message.map_err(|e| e.to_string())?)
        .map_err(|e| e.to_string())?;
    let seed = NamedSeed {
        names: ADOPT,
        list: PhantomData,
    };
    request
        .codec
        .decode_seed(seed, &request.body)
        .map_err(|e| e.to_string())
}

fn rex(species: Option<&str>) -> Adopt {
    ("rex".to_owned(), (species.map(str::to_owned), ()))
}

#[test]
fn oslo_kwargs_without_the_option_read_as_none() {
    let wire = OsloWire::default();
    assert_eq!(
        received(&wire, br#"{"name": "rex"}"#.to_vec()),
        Ok(rex(None))
    );
    assert_eq!(
        received(&wire, br#"{"name": "rex", "species": null}"#.to_vec()),
        Ok(rex(None))
    );
    assert_eq!(
        received(&wire, br#"{"species": "dog", "name": "rex"}"#.to_vec()),
        Ok(rex(Some("dog")))
    );
    let missing = received(&wire, br#"{"species": "dog"}"#.to_vec()).unwrap_err();
    assert!(missing.contains("missing field `name`"), "{missing}");
}

#[test]
fn native_json_bodies_without_the_option_read_as_none() {
    let wire = NativeWire::new(AnyCodec::Json(Json::default()));
    assert_eq!(
        received(&wire, br#"{"name": "rex"}"#.to_vec()),
        Ok(rex(None))
    );
    assert_eq!(
        received(&wire, br#"{"name": "rex", "species": null}"#.to_vec()),
        Ok(rex(None))
    );
    let missing = received(&wire, b"{}".to_vec()).unwrap_err();
    assert!(missing.contains("missing field `name`"), "{missing}");
}

#[test]
fn native_bincode_carries_the_none_in_place() {
    let codec = AnyCodec::Bincode(Bincode::default());
    let wire = NativeWire::new(codec);
    for args in [rex(None), rex(Some("dog"))] {
        let body = codec
            .encode(&Named {
                names: ADOPT,
                args: &args,
            })
            .expect("encode");
        assert_eq!(received(&wire, body), Ok(args));
    }
    let short = codec.encode(&("rex",)).expect("encode");
    assert!(received(&wire, short).is_err(), "not silently padded");
}
