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

use super::rabbit_queues::{FanoutQueue, RabbitQueues};
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

/// Declares a topic's fanout exchange, `name` (durable with oslo's
/// transient quorum queues or stream fanout, as oslo declares it then).
pub(super) async fn fanout_exchange(
    channel: &Chan,
    name: &str,
    durable: bool,
) -> Result<(), RpcError> {
    let mut args = ExchangeDeclareArguments::of_type(name, ExchangeType::Fanout);
    args.auto_delete(true).durable(durable);
    exchange(channel, args).await
}

async fn exchange(channel: &Chan, args: ExchangeDeclareArguments) -> Result<(), RpcError> {
    channel.exchange_declare(args).await
}

/// A queue declared for consuming.
pub(super) struct Declared {
    pub(super) name: String,
    /// Messages ready in it (none counted for a stream: it keeps them).
    pub(super) ready: u32,
    /// Whether it is a stream (read from an offset, never drained).
    pub(super) stream: bool,
}

/// Declares the queues and exchanges behind `spec`'s source, as
/// [`Source::queues`](crate::transport::driver::Source::queues) lists them,
/// with the server's fanout queue as `fanout` says (left out without it);
/// returns the queues to consume and how many messages wait in each.
pub(super) async fn source(
    channel: &Chan,
    control: &ControlExchange,
    spec: &Subscribe,
    fanout: Option<&FanoutQueue>,
    rabbit: &RabbitQueues,
) -> Result<Vec<Declared>, RpcError> {
    control_exchange(channel, control).await?;
    let durable = spec.durability != Durability::Transient;
    let mut queues = Vec::with_capacity(3);
    for queue in spec.source.queues() {
        let (name, declare) = match (queue.lifetime, fanout) {
            (Lifetime::Exclusive, None) => continue,
            (Lifetime::Exclusive, Some(fanout)) => (fanout.name().to_owned(), fanout_queue(fanout)),
            (lifetime, _) => {
                let mut arguments = queue_arguments(spec);
                if let (Some(expires), Lifetime::Own) = (spec.expires, lifetime) {
                    arguments.insert(field("x-expires"), millis(expires));
                }
                let declare = QueueDeclareArguments::new(&queue.name)
                    .durable(durable)
                    .arguments(arguments)
                    .finish();
                (queue.name, declare)
            }
        };
        let (ready, _consumers) = channel.queue_declare(&name, declare).await?;
        for route in &queue.bindings {
            let exchange = match &route.exchange {
                Exchange::Control => control.name.clone(),
                Exchange::Fanout(exchange) => {
                    let durable = rabbit.durable_fanout_exchange();
                    fanout_exchange(channel, exchange, durable).await?;
                    exchange.clone()
                }
                Exchange::Direct => continue,
            };
            channel
                .queue_bind(QueueBindArguments::new(&name, &exchange, &route.key))
                .await?;
        }
        let stream = matches!(
            (queue.lifetime, fanout),
            (Lifetime::Exclusive, Some(FanoutQueue::Stream { .. }))
        );
        let ready = if stream { 0 } else { ready };
        queues.push(Declared {
            name,
            ready,
            stream,
        });
    }
    Ok(queues)
}

/// How a server's fanout queue is declared: exclusive (it goes with its
/// connection), a quorum queue that expires, or the topic's stream.
fn fanout_queue(fanout: &FanoutQueue) -> QueueDeclareArguments {
    match fanout {
        FanoutQueue::Exclusive { name } => QueueDeclareArguments::new(name)
            .exclusive(true)
            .auto_delete(true)
            .finish(),
        FanoutQueue::Quorum { name, expires, .. } => {
            let mut arguments = FieldTable::new();
            arguments.insert(field("x-queue-type"), FieldValue::from("quorum"));
            if let Some(expires) = expires {
                arguments.insert(field("x-expires"), millis(*expires));
            }
            QueueDeclareArguments::new(name)
                .durable(true)
                .arguments(arguments)
                .finish()
        }
        FanoutQueue::Stream { name, max_age } => {
            let mut arguments = FieldTable::new();
            arguments.insert(field("x-queue-type"), FieldValue::from("stream"));
            if let Some(age) = max_age {
                let age = format!("{}s", age.as_secs().max(1));
                arguments.insert(field("x-max-age"), FieldValue::from(age.as_str()));
            }
            QueueDeclareArguments::new(name)
                .durable(true)
                .arguments(arguments)
                .finish()
        }
    }
}

fn millis(duration: std::time::Duration) -> FieldValue {
    FieldValue::l(
        i64::try_from(duration.as_millis())
            .unwrap_or(i64::MAX)
            .max(1),
    )
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
