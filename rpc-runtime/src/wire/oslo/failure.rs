//! Errors as oslo.messaging's `failure`: a JSON string holding `{"class",
//! "module", "message", "tb", "args", "kwargs"}`, the form a Python server
//! builds from an exception and a Python client re-raises (as
//! `RemoteError(class, message)` unless the module is allowed).
//!
//! Naming rule for what a Rust server sends:
//!
//! | error | `class` | `module` |
//! |---|---|---|
//! | manager error, an enum | the variant's name (`NotFound`) | the type's Rust path, dotted (`cinder.errors.VolumeError`) |
//! | manager error, not an enum | the type's name (`VolumeError`) | the same path |
//! | unknown method | `NoSuchMethod` | `oslo_messaging.rpc.dispatcher` |
//! | version or namespace not served | `UnsupportedVersion` | `oslo_messaging.rpc.dispatcher` |
//! | other framework errors | the [`RpcError`] variant (`BadRequest`) | `rpc_runtime.RpcError` |
//! | a remote error passed on | its own class | its own module |
//!
//! `message` is the error's `Display`, `args` is `[message]`, `kwargs` the
//! fields of a struct variant. Two extra keys, which Python ignores, let a
//! Rust caller get the exact value back: `rust_error` (the manager error as
//! JSON) and `rpc_error` (the framework error as JSON). A failure without
//! them (from Python) becomes [`RpcError::Remote`].

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::envelope::raw;
use crate::error::RpcError;
use crate::wire::{ErrorReply, ReplyBody};

const DISPATCHER: &str = "oslo_messaging.rpc.dispatcher";
const FRAMEWORK: &str = "rpc_runtime.RpcError";

#[derive(Serialize)]
struct FailureOut<'a> {
    class: &'a str,
    module: &'a str,
    message: &'a str,
    /// One line per error of the chain, ending as Python's traceback
    /// lines end.
    tb: Vec<String>,
    args: [&'a str; 1],
    kwargs: Box<RawValue>,
    #[serde(skip_serializing_if = "Option::is_none")]
    rust_error: Option<&'a RawValue>,
    #[serde(skip_serializing_if = "Option::is_none")]
    rpc_error: Option<Box<RawValue>>,
}

#[derive(Deserialize)]
struct FailureIn {
    #[serde(default)]
    class: Option<String>,
    #[serde(default)]
    module: Option<String>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    kwargs: Option<Box<RawValue>>,
    #[serde(default)]
    rust_error: Option<Box<RawValue>>,
    #[serde(default)]
    rpc_error: Option<Box<RawValue>>,
}

/// The `failure` string of a manager error (its body is JSON).
pub(super) fn from_error(error: &ErrorReply) -> String {
    let body = std::str::from_utf8(&error.body)
        .ok()
        .and_then(|text| RawValue::from_string(text.to_owned()).ok());
    let value: Option<serde_json::Value> = body
        .as_ref()
        .and_then(|b| serde_json::from_str(b.get()).ok());
    let type_name = error.type_name.split('<').next().unwrap_or_default();
    let short_name = type_name.rsplit("::").next().unwrap_or_default();
    let (variant, fields) = match &value {
        Some(serde_json::Value::String(variant)) => (Some(variant.as_str()), None),
        Some(serde_json::Value::Object(map)) if map.len() == 1 => match map.iter().next() {
            Some((variant, inner)) => (Some(variant.as_str()), inner.as_object().map(raw)),
            None => (None, None),
        },
        _ => (None, None),
    };
    let class = variant
        .or((!short_name.is_empty()).then_some(short_name))
        .unwrap_or("Error");
    let module = if type_name.is_empty() {
        "rust".to_owned()
    } else {
        type_name.replace("::", ".")
    };
    encode(&FailureOut {
        class,
        module: &module,
        message: &error.message,
        tb: std::iter::once(format!("{module}.{class}: {}\n", error.message))
            .chain(
                error
                    .causes
                    .iter()
                    .map(|cause| format!("Caused by: {cause}\n")),
            )
            .collect(),
        args: [&error.message],
        kwargs: fields.unwrap_or_else(|| raw(&serde_json::Map::new())),
        rust_error: body.as_deref(),
        rpc_error: None,
    })
}

/// The `failure` string of a framework error.
pub(super) fn from_rpc_error(error: &RpcError) -> String {
    let message = match error {
        RpcError::Remote { message, .. } => message.clone(),
        other => other.to_string(),
    };
    let as_json = serde_json::to_value(error).ok();
    let variant = match &as_json {
        Some(serde_json::Value::String(name)) => name.clone(),
        Some(serde_json::Value::Object(map)) => map.keys().next().cloned().unwrap_or_default(),
        _ => String::new(),
    };
    let (class, module, kwargs) = match error {
        RpcError::UnknownMethod { .. } => ("NoSuchMethod", DISPATCHER, None),
        RpcError::VersionNotSupported { .. } | RpcError::WrongNamespace { .. } => {
            ("UnsupportedVersion", DISPATCHER, None)
        }
        RpcError::Remote {
            class,
            module,
            kwargs,
            ..
        } => (
            class.as_str(),
            module.as_str(),
            RawValue::from_string(kwargs.clone()).ok(),
        ),
        _ => (variant.as_str(), FRAMEWORK, None),
    };
    encode(&FailureOut {
        class,
        module,
        message: &message,
        tb: vec![format!("{module}.{class}: {message}\n")],
        args: [&message],
        kwargs: kwargs.unwrap_or_else(|| raw(&serde_json::Map::new())),
        rust_error: None,
        rpc_error: Some(raw(error)),
    })
}

fn encode(failure: &FailureOut<'_>) -> String {
    serde_json::to_string(failure).unwrap_or_default()
}

/// Reads a `failure` string (untrusted).
pub(super) fn decode(failure: &str) -> ReplyBody {
    let parsed = failure
        .trim_start()
        .starts_with('{')
        .then(|| serde_json::from_str::<FailureIn>(failure).ok())
        .flatten();
    let Some(failure) = parsed else {
        return ReplyBody::Failure(RpcError::Decode {
            what: "the failure reply".into(),
            detail: "it is not an oslo.messaging failure object".into(),
        });
    };
    let message = failure.message.unwrap_or_default();
    let module = failure.module.unwrap_or_default();
    if let Some(body) = failure.rust_error {
        return ReplyBody::Error(ErrorReply {
            body: body.get().as_bytes().to_vec(),
            message,
            type_name: module.replace('.', "::"),
            causes: Vec::new(),
        });
    }
    if let Some(error) = failure
        .rpc_error
        .and_then(|e| serde_json::from_str::<RpcError>(e.get()).ok())
    {
        return ReplyBody::Failure(error);
    }
    let kwargs = failure
        .kwargs
        .filter(|k| k.get().trim_start().starts_with('{'))
        .map_or_else(|| "{}".to_owned(), |k| k.get().to_owned());
    ReplyBody::Failure(RpcError::Remote {
        class: failure.class.unwrap_or_default(),
        module,
        message,
        kwargs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(failure: &str) -> serde_json::Value {
        serde_json::from_str(failure).unwrap()
    }

    #[test]
    fn a_manager_error_is_named_after_its_variant_and_type() {
        let error = ErrorReply {
            body: br#"{"NotFound":{"id":7}}"#.to_vec(),
            message: "volume 7 not found".into(),
            type_name: "cinder::errors::VolumeError".into(),
            causes: Vec::new(),
        };
        let failure = from_error(&error);
        let f = fields(&failure);
        assert_eq!(f["class"], "NotFound");
        assert_eq!(f["module"], "cinder.errors.VolumeError");
        assert_eq!(f["message"], "volume 7 not found");
        assert_eq!(f["kwargs"], serde_json::json!({"id": 7}));
        assert_eq!(f["args"], serde_json::json!(["volume 7 not found"]));
        assert_eq!(decode(&failure), ReplyBody::Error(error));
    }

    #[test]
    fn the_traceback_has_a_line_per_error_of_the_chain() {
        let error = ErrorReply {
            body: br#""Backend""#.to_vec(),
            message: "the backend failed".into(),
            type_name: "cinder::VolumeError".into(),
            causes: vec!["lvcreate exited with 5".into(), "disk full".into()],
        };
        let f = fields(&from_error(&error));
        assert_eq!(
            f["tb"],
            serde_json::json!([
                "cinder.VolumeError.Backend: the backend failed\n",
                "Caused by: lvcreate exited with 5\n",
                "Caused by: disk full\n",
            ])
        );
    }

    #[test]
    fn framework_errors_use_oslo_names_and_come_back_exactly() {
        let unknown = RpcError::UnknownMethod {
            topic: "volume".into(),
            method: "nope".into(),
        };
        let failure = from_rpc_error(&unknown);
        assert_eq!(fields(&failure)["class"], "NoSuchMethod");
        assert_eq!(fields(&failure)["module"], DISPATCHER);
        assert_eq!(decode(&failure), ReplyBody::Failure(unknown));
        let bad = RpcError::BadRequest {
            method: "m".into(),
            detail: "d".into(),
        };
        assert_eq!(fields(&from_rpc_error(&bad))["class"], "BadRequest");
    }

    #[test]
    fn a_python_failure_becomes_a_remote_error() {
        let failure = r#"{"class": "VolumeNotFound", "module": "cinder.exception",
            "message": "Volume 7 could not be found.", "tb": ["Traceback"], "args": [],
            "kwargs": {"volume_id": 7}}"#;
        assert_eq!(
            decode(failure),
            ReplyBody::Failure(RpcError::Remote {
                class: "VolumeNotFound".into(),
                module: "cinder.exception".into(),
                message: "Volume 7 could not be found.".into(),
                kwargs: r#"{"volume_id": 7}"#.into(),
            })
        );
        assert!(matches!(
            decode("[]"),
            ReplyBody::Failure(RpcError::Decode { .. })
        ));
    }
}
