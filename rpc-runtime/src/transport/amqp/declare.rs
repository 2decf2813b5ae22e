//! Declaring exchanges and queues, with oslo.messaging's flags so a Python
//! server could share a topic queue: the control exchange is a non-durable
//! topic exchange; the topic and server queues are non-durable,
//! non-exclusive and not auto-deleted; the fanout exchange is auto-deleted;
//! each server's fanout queue is exclusive and auto-deleted, so it goes away
//! with the server's consumer. Notification queues are durable.

use amqprs::channel::{
    Channel, ExchangeDeclareArguments, ExchangeType, QueueBindArguments, QueueDeclareArguments,
};

use amqprs::{FieldName, FieldTable, FieldValue};

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
    channel: &Channel,
    control: &ControlExchange,
) -> Result<(), RpcError> {
    let mut args = ExchangeDeclareArguments::of_type(&control.name, ExchangeType::Topic);
    args.durable(control.durable);
    exchange(channel, args).await
}

/// Declares a topic's fanout exchange.
pub(super) async fn fanout_exchange(channel: &Channel, topic: &str) -> Result<(), RpcError> {
    let name = topology::fanout_exchange(topic);
    let mut args = ExchangeDeclareArguments::of_type(&name, ExchangeType::Fanout);
    args.auto_delete(true);
    exchange(channel, args).await
}

/// Whether an exchange exists (a passive declare; a missing one closes the
/// channel, which the caller reopens).
pub(super) async fn exchange_exists(channel: &Channel, name: &str) -> bool {
    let args = ExchangeDeclareArguments::new(name, "fanout")
        .passive(true)
        .finish();
    channel.exchange_declare(args).await.is_ok()
}

async fn exchange(channel: &Channel, args: ExchangeDeclareArguments) -> Result<(), RpcError> {
    let name = args.exchange.clone();
    channel
        .exchange_declare(args)
        .await
        .map_err(|e| RpcError::Connection(format!("declaring exchange `{name}` failed: {e}")))
}

async fn bound_queue(
    channel: &Channel,
    declare: QueueDeclareArguments,
    queue: &str,
    exchange: &str,
    keys: &[String],
) -> Result<(), RpcError> {
    channel
        .queue_declare(declare)
        .await
        .map_err(|e| RpcError::Connection(format!("declaring queue `{queue}` failed: {e}")))?;
    for key in keys {
        channel
            .queue_bind(QueueBindArguments::new(queue, exchange, key))
            .await
            .map_err(|e| RpcError::Connection(format!("binding queue `{queue}` failed: {e}")))?;
    }
    Ok(())
}

/// Declares the three queues of a server on `exchange`; returns their names.
pub(super) async fn server_queues(
    channel: &Channel,
    control: &ControlExchange,
    spec: &ListenSpec,
) -> Result<Vec<String>, RpcError> {
    control_exchange(channel, control).await?;
    let exchange = control.name.as_str();
    let topic_queue = topology::topic_queue(&spec.topic);
    let server_queue = topology::server_queue(&spec.topic, &spec.server);
    for queue in [&topic_queue, &server_queue] {
        let declare = QueueDeclareArguments::new(queue)
            .durable(spec.durable)
            .arguments(queue_arguments(spec))
            .finish();
        bound_queue(
            channel,
            declare,
            queue,
            exchange,
            std::slice::from_ref(queue),
        )
        .await?;
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
    Ok(vec![topic_queue, server_queue, fanout_queue])
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

/// Declares a queue bound to `exchange` with each of its keys.
pub(super) async fn queue(
    channel: &Channel,
    control: &ControlExchange,
    spec: &QueueSpec,
) -> Result<(), RpcError> {
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
