//! Declaring exchanges and queues, with oslo.messaging's flags so a Python
//! server could share a topic queue: the control exchange is a non-durable
//! topic exchange; the topic and server queues are non-durable,
//! non-exclusive and not auto-deleted; the fanout exchange is auto-deleted;
//! each server's fanout queue is exclusive and auto-deleted, so it goes away
//! with the server's consumer. Notification queues are durable.

use amqprs::channel::{
    ExchangeDeclareArguments, ExchangeType, QueueBindArguments, QueueDeclareArguments,
};

use amqprs::{FieldName, FieldTable, FieldValue};

use super::shield::Chan;
use crate::error::RpcError;
use crate::topology;
use crate::transport::driver::{Durability, Source, Subscribe};

/// The control exchange: its name, and whether it is durable.
#[derive(Debug, Clone)]
pub(super) struct ControlExchange {
    pub(super) name: String,
    pub(super) durable: bool,
}

/// Declares the control exchange (a topic exchange).
pub(super) async fn control_exchange(
    channel: &Chan,
    control: &ControlExchange,
) -> Result<(), RpcError> {
    let mut args = ExchangeDeclareArguments::of_type(&control.name, ExchangeType::Topic);
    args.durable(control.durable);
    exchange(channel, args).await
}

/// Declares a topic's fanout exchange.
pub(super) async fn fanout_exchange(channel: &Chan, topic: &str) -> Result<(), RpcError> {
    let name = topology::fanout_exchange(topic);
    let mut args = ExchangeDeclareArguments::of_type(&name, ExchangeType::Fanout);
    args.auto_delete(true);
    exchange(channel, args).await
}

async fn exchange(channel: &Chan, args: ExchangeDeclareArguments) -> Result<(), RpcError> {
    channel.exchange_declare(args).await
}

/// Declares and binds a queue; returns how many messages wait in it.
async fn bound_queue(
    channel: &Chan,
    declare: QueueDeclareArguments,
    queue: &str,
    exchange: &str,
    keys: &[String],
) -> Result<u32, RpcError> {
    let (ready, _consumers) = channel.queue_declare(queue, declare).await?;
    for key in keys {
        channel
            .queue_bind(QueueBindArguments::new(queue, exchange, key))
            .await?;
    }
    Ok(ready)
}

/// Declares the queues and exchanges behind `spec`'s source (with
/// `subscribe`, the server's own fanout queue too); returns the queues to
/// consume and how many messages wait in each.
pub(super) async fn source(
    channel: &Chan,
    control: &ControlExchange,
    spec: &Subscribe,
    subscribe: bool,
) -> Result<Vec<(String, u32)>, RpcError> {
    control_exchange(channel, control).await?;
    let exchange = control.name.as_str();
    let durable = spec.durability != Durability::Transient;
    let own = spec.source.own_queue();
    let mut queues = Vec::with_capacity(3);
    for (queue, keys) in spec.source.bindings() {
        let mut arguments = queue_arguments(spec);
        if let (Some(expires), true) = (spec.expires, own.as_deref() == Some(queue.as_str())) {
            let ms = i64::try_from(expires.as_millis())
                .unwrap_or(i64::MAX)
                .max(1);
            arguments.insert(field("x-expires"), FieldValue::l(ms));
        }
        let declare = QueueDeclareArguments::new(&queue)
            .durable(durable)
            .arguments(arguments)
            .finish();
        let ready = bound_queue(channel, declare, &queue, exchange, &keys).await?;
        queues.push((queue, ready));
    }
    if let (Source::Server { topic, .. }, true) = (&spec.source, subscribe) {
        queues.push((fanout_queue(channel, topic).await?, 0));
    }
    Ok(queues)
}

/// Declares a topic's fanout exchange and a new exclusive queue of this
/// server on it (holding nothing yet); returns its name.
async fn fanout_queue(channel: &Chan, topic: &str) -> Result<String, RpcError> {
    fanout_exchange(channel, topic).await?;
    let queue = topology::fanout_queue(topic);
    let declare = QueueDeclareArguments::new(&queue)
        .exclusive(true)
        .auto_delete(true)
        .finish();
    let exchange = topology::fanout_exchange(topic);
    bound_queue(
        channel,
        declare,
        &queue,
        &exchange,
        std::slice::from_ref(&topic.to_owned()),
    )
    .await?;
    Ok(queue)
}

fn field(name: &str) -> FieldName {
    FieldName::try_from(name).expect("a short literal")
}

/// The queue arguments: `x-queue-type: quorum` (and `x-delivery-limit`)
/// for replicated queues, `x-max-length` for bounded ones.
fn queue_arguments(spec: &Subscribe) -> FieldTable {
    let mut arguments = FieldTable::new();
    let name = field;
    if let Durability::Replicated { delivery_limit } = spec.durability {
        arguments.insert(name("x-queue-type"), FieldValue::from("quorum"));
        if let Some(limit) = delivery_limit {
            arguments.insert(name("x-delivery-limit"), FieldValue::l(i64::from(limit)));
        }
    }
    if let Some(max) = spec.max_length {
        arguments.insert(name("x-max-length"), FieldValue::l(i64::from(max)));
    }
    arguments
}
