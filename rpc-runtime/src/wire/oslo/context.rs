//! The request context as oslo.messaging flattens it: one `_context_<key>`
//! field per key of the Python context's `to_dict()`.
//!
//! `request_id`, `user_id`, `project_id`, `roles` (a list) and `auth_token`
//! fill the [`Context`]'s own fields, `traceparent` its trace; every other
//! key is kept, a string as a [`Context::value`], anything else (`is_admin:
//! false`, `service_catalog: [...]`) as JSON text in
//! [`Context::raw_value`], and sent back the same way, so a Python context
//! passes through a Rust service unchanged.

use super::envelope::{Fields, raw};
use crate::context::{Context, new_request_id};
use crate::secret::Secret;
use crate::trace::TraceParent;

const PREFIX: &str = "_context_";

/// Adds the context's fields; `trace` as in [`OutgoingRequest::trace`](crate::wire::OutgoingRequest::trace).
pub(super) fn encode(context: &Context, trace: Option<TraceParent>, fields: &mut Fields) {
    let mut put = |key: &str, value| {
        fields.insert(format!("{PREFIX}{key}"), value);
    };
    put("request_id", raw(context.request_id()));
    if let Some(user) = context.user_id() {
        put("user_id", raw(user));
    }
    if let Some(project) = context.project_id() {
        put("project_id", raw(project));
    }
    if !context.roles().is_empty() {
        put("roles", raw(context.roles()));
    }
    if let Some(token) = context.auth_token() {
        put("auth_token", raw(token.expose()));
    }
    if let Some(trace) = trace.or_else(|| context.trace().map(TraceParent::child)) {
        put("traceparent", raw(&trace.to_string()));
    }
    for (key, value) in context.values() {
        put(key, raw(value));
    }
    for (key, json) in context.raw_values() {
        if let Ok(value) = serde_json::value::RawValue::from_string(json.clone()) {
            put(key, value);
        }
    }
}

/// Reads the context out of a message's fields (untrusted).
pub(super) fn decode(fields: &Fields) -> Context {
    let mut context = Context::default();
    context.set_request_id(new_request_id());
    for (name, value) in fields {
        let Some(key) = name.strip_prefix(PREFIX) else {
            continue;
        };
        let text: Option<Option<String>> = serde_json::from_str(value.get()).ok();
        match (key, text) {
            ("request_id", Some(Some(id))) => context.set_request_id(id),
            ("user_id", Some(user)) => context.set_user_id(user),
            ("project_id", Some(project)) => context.set_project_id(project),
            ("auth_token", Some(token)) => context.set_auth_token(token.map(Secret::new)),
            ("traceparent", Some(Some(trace))) => {
                context.set_trace(TraceParent::parse(&trace));
            }
            ("roles", _) => match serde_json::from_str::<Vec<String>>(value.get()) {
                Ok(roles) => context = context.with_roles(roles),
                Err(_) => context.set_raw_value(key, value.get()),
            },
            (_, Some(Some(text))) => {
                context.values_mut().insert(key.to_owned(), text);
            }
            _ => context.set_raw_value(key, value.get()),
        }
    }
    context
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_python_context_round_trips() {
        let python = serde_json::json!({
            "_context_request_id": "req-1",
            "_context_user_id": "alice",
            "_context_project_id": null,
            "_context_roles": ["admin", "member"],
            "_context_auth_token": "s3cret",
            "_context_is_admin": true,
            "_context_global_request_id": "req-0",
            "_context_service_catalog": [{"type": "volume"}],
            "method": "not context",
        });
        let fields: Fields = serde_json::from_value(python).unwrap();
        let context = decode(&fields);
        assert_eq!(context.request_id(), "req-1");
        assert_eq!(context.user_id(), Some("alice"));
        assert_eq!(context.project_id(), None);
        assert_eq!(context.roles(), ["admin", "member"]);
        assert_eq!(context.auth_token().map(Secret::expose), Some("s3cret"));
        assert_eq!(context.value("global_request_id"), Some("req-0"));
        assert_eq!(context.raw_value("is_admin"), Some("true"));
        assert!(context.value("method").is_none());

        let mut out = Fields::new();
        encode(&context, None, &mut out);
        let out = serde_json::to_value(&out).unwrap();
        assert_eq!(out["_context_request_id"], "req-1");
        assert_eq!(out["_context_is_admin"], true);
        assert_eq!(
            out["_context_service_catalog"],
            serde_json::json!([{"type": "volume"}])
        );
        assert_eq!(out["_context_global_request_id"], "req-0");
        assert_eq!(
            out["_context_roles"],
            serde_json::json!(["admin", "member"])
        );
    }
}
