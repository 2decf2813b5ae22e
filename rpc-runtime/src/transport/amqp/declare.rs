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
use crate::transport::{ListenSpec, QueueSpec};

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

/// Declares the three queues of a server on `exchange`; returns their names
/// and how many messages wait in each.
pub(super) async fn server_queues(
    channel: &Chan,
    control: &ControlExchange,
    spec: &ListenSpec,
) -> Result<Vec<(String, u32)>, RpcError> {
    control_exchange(channel, control).await?;
    let exchange = control.name.as_str();
    let topic_queue = topology::topic_queue(&spec.topic);
    let server_queue = topology::server_queue(&spec.topic, &spec.server);
    let mut queues = Vec::with_capacity(3);
    for queue in [topic_queue, server_queue] {
        let declare = QueueDeclareArguments::new(&queue)
            .durable(spec.durable)
            .arguments(queue_arguments(spec))
            .finish();
        let ready = bound_queue(
            channel,
            declare,
            &queue,
            exchange,
            std::slice::from_ref(&queue),
        )
        .await?;
        queues.push((queue, ready));
    }
    fanout_exchange(channel, &spec.topic).await?;
    let fanout_queue = topology::fanout_queue(&spec.topic);
    let declare = QueueDeclareArguments::new(&fanout_queue)
        .exclusive(true)
        .auto_delete(true)
        .finish();
    let exchange = topology::fanout_exchange(&spec.topic);
    bound_queue(
        channel,
        declare,
        &fanout_queue,
        &exchange,
        std::slice::from_ref(&spec.topic),
    )
    .await?;
    // A fresh exclusive queue holds nothing to drain.
    queues.push((fanout_queue, 0));
    Ok(queues)
}

/// `x-queue-type: quorum` (and `x-delivery-limit`) for quorum queues.
fn queue_arguments(spec: &ListenSpec) -> FieldTable {
    let mut arguments = FieldTable::new();
    if let Some(delivery_limit) = spec.quorum {
        let name = |n: &str| FieldName::try_from(n).expect("a short literal");
        arguments.insert(name("x-queue-type"), FieldValue::from("quorum"));
        if let Some(limit) = delivery_limit {
            arguments.insert(name("x-delivery-limit"), FieldValue::l(i64::from(limit)));
        }
    }
    arguments
}

/// Declares a queue bound to `exchange` with each of its keys; returns how
/// many messages wait in it.
pub(super) async fn queue(
    channel: &Chan,
    control: &ControlExchange,
    spec: &QueueSpec,
) -> Result<u32, RpcError> {
    control_exchange(channel, control).await?;
    let exchange = control.name.as_str();
    let mut arguments = FieldTable::new();
    if let Some(max) = spec.max_length {
        let name = FieldName::try_from("x-max-length").expect("a short literal");
        arguments.insert(name, FieldValue::l(i64::from(max)));
    }
    let declare = QueueDeclareArguments::new(&spec.name)
        .durable(spec.durable)
        .arguments(arguments)
        .finish();
    bound_queue(channel, declare, &spec.name, exchange, &spec.bindings).await
}
