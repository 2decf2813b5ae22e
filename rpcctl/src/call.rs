//! `rpcctl call`: the method described by a server first (a misspelled
//! method or argument is refused before anything is sent), then called; a
//! streaming method's items printed as they come.

use std::time::Duration;

use rpc_runtime::Transport;
use rpc_runtime::codec::{Codec, Json};
use rpc_runtime::message::Message;
use rpc_runtime::wire::ReplyBody;
use serde_json::Value;

use crate::asked::description_for;
use crate::failure::Failure;
use crate::output::Output;
use crate::request::{
    Target, answered_error, check_args, find_method, read_reply, request, required_version,
};

/// `rpcctl call`.
pub(crate) async fn call(
    transport: &Transport,
    out: Output,
    to: Target<'_>,
    method: &str,
    args: &str,
    timeout: Duration,
) -> Result<(), Failure> {
    let service = description_for(transport, to, method, timeout).await?;
    let described = find_method(&service, method, &["call", "stream"])?;
    let streams = described.kind == "stream";
    let body = check_args(described, args)?;
    let message = request(
        transport,
        method,
        &required_version(&service, described),
        service.namespace.as_deref(),
        Some(timeout),
        body,
    );
    if streams {
        return print_stream(transport, to, message, timeout).await;
    }
    let reply = transport
        .call_raw(to.destination(), message, timeout)
        .await
        .map_err(|e| to.failed(e))?;
    out.value(&read_reply(transport, reply)?);
    Ok(())
}

/// A streaming method's items, one JSON document per line, as they come;
/// the stream's error, if it ends with one, as a call's.
async fn print_stream(
    transport: &Transport,
    to: Target<'_>,
    message: Message,
    timeout: Duration,
) -> Result<(), Failure> {
    let json = Json::default();
    let mut items = transport
        .stream_raw(to.destination(), message, timeout)
        .await;
    while let Some(item) = items.next().await {
        let value = match item.map_err(|e| to.failed(e))? {
            ReplyBody::Value(body) => json
                .decode::<Value>(&body)
                .map_err(|e| Failure::Answered(format!("undecodable item: {e}"), None))?,
            failed => return Err(answered_error(failed)),
        };
        println!("{value}");
    }
    Ok(())
}
