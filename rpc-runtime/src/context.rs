//! The request context: who asks, on whose behalf, and until when.
//!
//! Like oslo.context's `RequestContext`, a [`Context`] travels with every call
//! and cast; the manager receives it as its first argument and passes it on
//! when it calls another service, so the request id follows the request
//! through the deployment.

use std::collections::BTreeMap;
use std::fmt;
use std::time::{Duration, SystemTime};

use crate::secret::Secret;
use crate::trace::TraceParent;

/// The context of one request.
///
/// ```
/// use rpc_runtime::Context;
///
/// let ctx = Context::new().with_user_id("alice").with_roles(["member"]).with_auth_token("t0k3n");
/// assert!(ctx.request_id().starts_with("req-"));
/// assert!(!format!("{ctx:?}").contains("t0k3n"));
/// ```
#[derive(Clone, Default)]
pub struct Context {
    request_id: String,
    user_id: Option<String>,
    project_id: Option<String>,
    roles: Vec<String>,
    auth_token: Option<Secret>,
    values: BTreeMap<String, String>,
    raw_values: BTreeMap<String, String>,
    deadline: Option<SystemTime>,
    trace: Option<TraceParent>,
}

impl Context {
    /// A context with a fresh request id (`req-<uuid>`, as oslo makes them).
    pub fn new() -> Self {
        Self {
            request_id: new_request_id(),
            ..Self::default()
        }
    }

    /// Replaces the request id (e.g. with one received from an HTTP front end).
    pub fn with_request_id(mut self, request_id: impl Into<String>) -> Self {
        self.request_id = request_id.into();
        self
    }

    /// Sets the user id.
    pub fn with_user_id(mut self, user_id: impl Into<String>) -> Self {
        self.user_id = Some(user_id.into());
        self
    }

    /// Sets the project (tenant) id.
    pub fn with_project_id(mut self, project_id: impl Into<String>) -> Self {
        self.project_id = Some(project_id.into());
        self
    }

    /// Sets the roles.
    pub fn with_roles<I, S>(mut self, roles: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.roles = roles.into_iter().map(Into::into).collect();
        self
    }

    /// Sets the auth token; it is redacted in `Debug` and never logged.
    pub fn with_auth_token(mut self, token: impl Into<String>) -> Self {
        self.auth_token = Some(Secret::new(token));
        self
    }

    /// Adds a free-form key/value pair that travels with the request.
    pub fn with_value(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.values.insert(key.into(), value.into());
        self
    }

    /// Adds a free-form value that is not a string, as JSON text (`true`,
    /// `["a", "b"]`), such as the `is_admin` of an oslo.context
    /// `RequestContext`. Text that is not JSON is ignored.
    ///
    /// ```
    /// let ctx = rpc_runtime::Context::new().with_raw_value("is_admin", "false");
    /// assert_eq!(ctx.raw_value("is_admin"), Some("false"));
    /// assert_eq!(ctx.with_raw_value("broken", "{").raw_value("broken"), None);
    /// ```
    pub fn with_raw_value(mut self, key: impl Into<String>, json: impl Into<String>) -> Self {
        self.set_raw_value(key, json);
        self
    }

    /// Continues a distributed trace from a W3C `traceparent` value (e.g.
    /// the one an HTTP front end received); an invalid value is ignored.
    pub fn with_traceparent(mut self, traceparent: &str) -> Self {
        self.trace = TraceParent::parse(traceparent);
        self
    }

    /// The trace this request belongs to, if any.
    pub fn trace(&self) -> Option<&TraceParent> {
        self.trace.as_ref()
    }

    pub(crate) fn set_trace(&mut self, trace: Option<TraceParent>) {
        self.trace = trace;
    }

    /// The request id (made by [`Context::new`] when absent).
    pub fn request_id(&self) -> &str {
        &self.request_id
    }

    /// The user id, if any.
    pub fn user_id(&self) -> Option<&str> {
        self.user_id.as_deref()
    }

    /// The project id, if any.
    pub fn project_id(&self) -> Option<&str> {
        self.project_id.as_deref()
    }

    /// The roles.
    pub fn roles(&self) -> &[String] {
        &self.roles
    }

    /// The auth token, if any.
    pub fn auth_token(&self) -> Option<&Secret> {
        self.auth_token.as_ref()
    }

    /// One free-form value.
    pub fn value(&self, key: &str) -> Option<&str> {
        self.values.get(key).map(String::as_str)
    }

    /// All free-form values.
    pub fn values(&self) -> &BTreeMap<String, String> {
        &self.values
    }

    /// One free-form value that is not a string, as JSON text.
    pub fn raw_value(&self, key: &str) -> Option<&str> {
        self.raw_values.get(key).map(String::as_str)
    }

    /// All free-form values that are not strings, as JSON text.
    pub fn raw_values(&self) -> &BTreeMap<String, String> {
        &self.raw_values
    }

    /// Sets a value that is not a string; text that is not JSON is ignored.
    pub(crate) fn set_raw_value(&mut self, key: impl Into<String>, json: impl Into<String>) {
        let json = json.into();
        if serde_json::from_str::<&serde_json::value::RawValue>(&json).is_ok() {
            self.raw_values.insert(key.into(), json);
        }
    }

    /// When the caller stops waiting, if it waits at all.
    pub fn deadline(&self) -> Option<SystemTime> {
        self.deadline
    }

    /// Time left until the deadline: `None` without one, zero once it passed.
    pub fn remaining(&self) -> Option<Duration> {
        self.deadline.map(|d| {
            d.duration_since(SystemTime::now())
                .unwrap_or(Duration::ZERO)
        })
    }

    pub(crate) fn set_deadline(&mut self, deadline: Option<SystemTime>) {
        self.deadline = deadline;
    }

    pub(crate) fn set_request_id(&mut self, request_id: String) {
        self.request_id = request_id;
    }

    pub(crate) fn set_user_id(&mut self, user_id: Option<String>) {
        self.user_id = user_id;
    }

    pub(crate) fn set_project_id(&mut self, project_id: Option<String>) {
        self.project_id = project_id;
    }

    pub(crate) fn set_auth_token(&mut self, token: Option<Secret>) {
        self.auth_token = token;
    }

    pub(crate) fn values_mut(&mut self) -> &mut BTreeMap<String, String> {
        &mut self.values
    }
}

impl fmt::Debug for Context {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Context")
            .field("request_id", &self.request_id)
            .field("user_id", &self.user_id)
            .field("project_id", &self.project_id)
            .field("roles", &self.roles)
            .field("auth_token", &self.auth_token)
            .field("values", &self.values)
            .field("raw_values", &self.raw_values)
            .field("deadline", &self.deadline)
            .field("trace", &self.trace)
            .finish()
    }
}

/// `req-` followed by a random UUID, the form oslo.context uses.
pub(crate) fn new_request_id() -> String {
    let mut buffer = uuid::Uuid::encode_buffer();
    let uuid = uuid::Uuid::new_v4().hyphenated();
    let text = uuid.encode_lower(&mut buffer);
    let mut id = String::with_capacity(4 + text.len());
    id.push_str("req-");
    id.push_str(text);
    id
}
