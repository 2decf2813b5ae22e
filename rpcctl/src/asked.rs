//! What rpcctl asks before it sends a method: whether a server consumes the
//! queue, and the method as a server describes it (so a misspelled method
//! or argument is refused before anything is sent).

use std::time::Duration;

use rpc_runtime::builtin::ServiceDescription;
use rpc_runtime::{RpcError, Transport, topology};

use crate::failure::Failure;
use crate::request::{Target, fetch_description_or};

/// Whether a server consumes the queue a request to `to` is asked through
/// (its server's queue, else the topic's); `None` when the broker does not
/// say (another connection's exclusive queue, a transport without counts).
pub(crate) async fn consumed(transport: &Transport, to: Target<'_>) -> Option<bool> {
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
