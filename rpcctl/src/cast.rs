//! `rpcctl cast`.
//!
//! A cast is checked against a server's description when one consumes the
//! queue (a misspelled method or argument is refused before anything is
//! sent); with nobody consuming it is sent as given, to wait in the queue,
//! and rpcctl says it went unchecked. `--check` insists on the check,
//! `--no-check` skips it.

use std::time::Duration;

use rpc_runtime::Transport;
use serde_json::Value;

use crate::asked::{consumed, description_for};
use crate::failure::Failure;
use crate::output::{Checked, Output};
use crate::request::{Target, check_args, find_method, parse_args, request, required_version};

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
