//! Keyword arguments as a Python server checks them: on oslo's wire the
//! arguments go by name, and a caller giving an unknown one, or leaving out
//! one that is not an `Option`, gets Python's `TypeError` in Python's words.
//! An `Option` argument has a default of `None`, as in Python's
//! `def m(self, ctxt, name, species=None)`.

use crate::codec::AnyCodec;
use crate::descriptor::MethodDescriptor;
use crate::error::RpcError;
use crate::wire::IncomingRequest;

/// On a wire whose arguments go by name (oslo's JSON object), refuses
/// unknown and missing ones as a Python server would: a `TypeError` in
/// Python's words. A missing `Option` is not missing: it reads as `None`.
pub(super) fn check(method: &MethodDescriptor, request: &IncomingRequest) -> Result<(), RpcError> {
    if !matches!(request.codec, AnyCodec::Json(_)) {
        return Ok(());
    }
    // Not an object: decoding the arguments says what is wrong.
    let Ok(given) = serde_json::from_slice::<
        std::collections::BTreeMap<String, &serde_json::value::RawValue>,
    >(&request.body) else {
        return Ok(());
    };
    let name = method.name;
    let type_error = |message: String| RpcError::Remote {
        class: "TypeError".into(),
        module: "builtins".into(),
        message,
        kwargs: "{}".into(),
    };
    if let Some(unknown) = given
        .keys()
        .find(|k| !method.args.iter().any(|a| a.name == *k))
    {
        return Err(type_error(format!(
            "{name}() got an unexpected keyword argument '{unknown}'"
        )));
    }
    let missing: Vec<String> = method
        .args
        .iter()
        .filter(|a| !a.optional() && !given.contains_key(a.name))
        .map(|a| format!("'{}'", a.name))
        .collect();
    match missing.as_slice() {
        [] => Ok(()),
        [one] => Err(type_error(format!(
            "{name}() missing 1 required positional argument: {one}"
        ))),
        [init @ .., last] => Err(type_error(format!(
            "{name}() missing {} required positional arguments: {} and {last}",
            missing.len(),
            init.join(", ")
        ))),
    }
}
