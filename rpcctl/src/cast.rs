//! `rpcctl cast`, and what rpcctl asks before it sends a method: whether a
//! server consumes the queue, and the method as a server describes it.
//!
//! A cast is checked against a server's description when one consumes the
//! queue (a misspelled method or argument is refused before anything is
//! sent); with nobody consuming it is sent as given, to wait in the queue,
//! and rpcctl says it went unchecked. `--check` insists on the check,
//! `--no-check` skips it.

use std::time::Duration;

use rpc_runtime::builtin::ServiceDescription;
use rpc_runtime::{RpcError, Transport, topology};
use serde_json::Value;

use crate::failure::Failure;
use crate::output::{Checked, Output};
use crate::request::{
    Target, check_args, fetch_description_or, find_method, parse_args, request, required_version,
};

/// How a cast is checked against the servers' description.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Check {
    /// When a server consumes the queue (the default).
    IfServed,
    /// Always: fail when no server describes the method (`--check`).
    Always,
    /// Never: send as given (`--no-check`).
    Never,
}

/// What an unchecked cast names, as the user gave it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct AsGiven<'a> {
    pub(crate) version: &'a str,
    pub(crate) namespace: Option<&'a str>,
}

/// Whether a server consumes the queue a request to `to` is asked through
/// (its server's queue, else the topic's); `None` when the broker does not
/// say (another connection's exclusive queue, a transport without counts).
async fn consumed(transport: &Transport, to: Target<'_>) -> Option<bool> {
    let queue = match to.server {
        Some(server) if !to.fanout => topology::server_queue(to.topic, server),
        _ => topology::topic_queue(to.topic).to_owned(),
    };
    match transport.queue_status(&queue).await {
        Ok(Some(status)) => Some(status.consumers > 0),
        Ok(None) => Some(false),
        Err(_) => None,
    }
}

/// The description of the service `method` is sent to, asked of a server
/// of `to`; a server that does not answer is said in terms of `method`
/// (`describe` is rpcctl's own question, not the user's).
pub(crate) async fn description_for(
    transport: &Transport,
    to: Target<'_>,
    method: &str,
    timeout: Duration,
) -> Result<ServiceDescription, Failure> {
    let asked = Target {
        fanout: false,
        ..to
    };
    if consumed(transport, asked).await == Some(false) {
        return Err(Failure::NoAnswer(format!(
            "no server consumes {}: `{method}` was not sent",
            asked.describe()
        )));
    }
    fetch_description_or(transport, asked, timeout, |error| match error {
        RpcError::Timeout { .. } => Failure::NoAnswer(format!(
            "no server of {} answered within {timeout:?} (asked to describe `{method}` before \
             sending it): `{method}` was not sent",
            asked.describe()
        )),
        other => asked.failed(other),
    })
    .await
}

/// `rpcctl cast`: checked as `check` says, then sent; returns once the
/// broker confirmed it.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn cast(
    transport: &Transport,
    out: Output,
    to: Target<'_>,
    method: &str,
    args: &str,
    check: Check,
    given: AsGiven<'_>,
    timeout: Duration,
) -> Result<(), Failure> {
    let asked = Target {
        fanout: false,
        ..to
    };
    let checked = match check {
        Check::Never => Checked::No("--no-check"),
        Check::Always => Checked::Yes,
        Check::IfServed => match consumed(transport, asked).await {
            Some(false) => Checked::No("no server consumes the queue now"),
            Some(true) | None => Checked::Yes,
        },
    };
    let (body, version, namespace) = if checked == Checked::Yes {
        let service = description_for(transport, to, method, timeout).await?;
        let described = find_method(&service, method, &["cast"])?;
        (
            check_args(described, args)?,
            required_version(&service, described),
            service.namespace,
        )
    } else {
        let body = serde_json::to_vec(&Value::Object(parse_args(args)?))
            .map_err(|e| Failure::Usage(e.to_string()))?;
        (
            body,
            given.version.to_owned(),
            given.namespace.map(str::to_owned),
        )
    };
    let mut message = request(
        transport,
        method,
        &version,
        namespace.as_deref(),
        None,
        body,
    );
    message.persistent = true;
    transport
        .cast_raw(to.destination(), message, timeout)
        .await
        .map_err(|e| to.failed(e))?;
    out.cast_confirmed(method, &to.describe(), checked);
    Ok(())
}
