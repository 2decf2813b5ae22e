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
use crate::topology::{Exchange, Lifetime};
use crate::transport::driver::{Durability, Subscribe};

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

/// Declares a topic's fanout exchange, `name`.
pub(super) async fn fanout_exchange(channel: &Chan, name: &str) -> Result<(), RpcError> {
    let mut args = ExchangeDeclareArguments::of_type(name, ExchangeType::Fanout);
    args.auto_delete(true);
    exchange(channel, args).await
}

async fn exchange(channel: &Chan, args: ExchangeDeclareArguments) -> Result<(), RpcError> {
    channel.exchange_declare(args).await
}

/// Declares the queues and exchanges behind `spec`'s source, as
/// [`Source::queues`](crate::transport::driver::Source::queues) lists them
/// (with `subscribe`, the server's own fanout queue too); returns the
/// queues to consume and how many messages wait in each.
pub(super) async fn source(
    channel: &Chan,
    control: &ControlExchange,
    spec: &Subscribe,
    subscribe: bool,
) -> Result<Vec<(String, u32)>, RpcError> {
    control_exchange(channel, control).await?;
    let durable = spec.durability != Durability::Transient;
    let mut queues = Vec::with_capacity(3);
    for queue in spec.source.queues() {
        let declare = match queue.lifetime {
            Lifetime::Exclusive if !subscribe => continue,
            // Holds nothing yet: it goes with its connection.
            Lifetime::Exclusive => QueueDeclareArguments::new(&queue.name)
                .exclusive(true)
                .auto_delete(true)
                .finish(),
            lifetime => {
                let mut arguments = queue_arguments(spec);
                if let (Some(expires), Lifetime::Own) = (spec.expires, lifetime) {
                    let ms = i64::try_from(expires.as_millis())
                        .unwrap_or(i64::MAX)
                        .max(1);
                    arguments.insert(field("x-expires"), FieldValue::l(ms));
                }
                QueueDeclareArguments::new(&queue.name)
                    .durable(durable)
                    .arguments(arguments)
                    .finish()
            }
        };
        let (ready, _consumers) = channel.queue_declare(&queue.name, declare).await?;
        for route in &queue.bindings {
            let exchange = match &route.exchange {
                Exchange::Control => control.name.clone(),
                Exchange::Fanout(name) => {
                    fanout_exchange(channel, name).await?;
                    name.clone()
                }
                Exchange::Direct => continue,
            };
            channel
                .queue_bind(QueueBindArguments::new(&queue.name, &exchange, &route.key))
                .await?;
        }
        queues.push((queue.name, ready));
    }
    Ok(queues)
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
