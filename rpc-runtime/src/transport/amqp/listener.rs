//! A server's side of the topology: declare its queues, consume them, and
//! hand each delivery to the server with the means to ack it.
//!
//! Flags follow oslo.messaging's defaults so a Python server could share the
//! topic queue: the control exchange is a non-durable topic exchange; the
//! topic and server queues are non-durable, non-exclusive, not auto-deleted;
//! the fanout exchange is auto-deleted; each server's fanout queue is
//! exclusive and auto-deleted, so it disappears with the server's connection.

use amqprs::channel::{
    BasicAckArguments, BasicConsumeArguments, BasicQosArguments, Channel, ConsumerMessage,
    ExchangeDeclareArguments, ExchangeType, QueueBindArguments, QueueDeclareArguments,
};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::callback::{ChannelEvent, open_channel};
use super::props::from_delivery;
use crate::error::RpcError;
use crate::topology;
use crate::transport::{Acker, BoxFuture, Delivery, ListenSpec, Listener, QueueSpec};

/// Declares the control exchange (a topic exchange).
pub(super) async fn declare_control_exchange(
    channel: &Channel,
    name: &str,
) -> Result<(), RpcError> {
    let args = ExchangeDeclareArguments::of_type(name, ExchangeType::Topic);
    declare_exchange(channel, args).await
}

/// Declares a topic's fanout exchange.
pub(super) async fn declare_fanout_exchange(
    channel: &Channel,
    topic: &str,
) -> Result<(), RpcError> {
    let mut args =
        ExchangeDeclareArguments::of_type(&topology::fanout_exchange(topic), ExchangeType::Fanout);
    args.auto_delete(true);
    declare_exchange(channel, args).await
}

async fn declare_exchange(
    channel: &Channel,
    args: ExchangeDeclareArguments,
) -> Result<(), RpcError> {
    let name = args.exchange.clone();
    channel
        .exchange_declare(args)
        .await
        .map_err(|e| RpcError::Connection(format!("declaring exchange `{name}` failed: {e}")))
}

async fn declare_bound_queue(
    channel: &Channel,
    declare: QueueDeclareArguments,
    queue: &str,
    exchange: &str,
    routing_key: &str,
) -> Result<(), RpcError> {
    channel
        .queue_declare(declare)
        .await
        .map_err(|e| RpcError::Connection(format!("declaring queue `{queue}` failed: {e}")))?;
    channel
        .queue_bind(QueueBindArguments::new(queue, exchange, routing_key))
        .await
        .map_err(|e| RpcError::Connection(format!("binding queue `{queue}` failed: {e}")))
}

/// Declares the three queues of `spec` on `exchange` and consumes them.
pub(super) async fn listen(
    connection: &amqprs::connection::Connection,
    exchange: &str,
    spec: ListenSpec,
) -> Result<Listener, RpcError> {
    let (channel, events) = open_channel(connection).await?;
    channel
        .basic_qos(BasicQosArguments::new(0, spec.prefetch, false))
        .await
        .map_err(RpcError::connection)?;
    declare_control_exchange(&channel, exchange).await?;
    let topic_queue = topology::topic_queue(&spec.topic);
    let server_queue = topology::server_queue(&spec.topic, &spec.server);
    for queue in [&topic_queue, &server_queue] {
        let declare = QueueDeclareArguments::new(queue);
        declare_bound_queue(&channel, declare, queue, exchange, queue).await?;
    }
    declare_fanout_exchange(&channel, &spec.topic).await?;
    let fanout_queue = topology::fanout_queue(&spec.topic);
    let declare = QueueDeclareArguments::new(&fanout_queue)
        .exclusive(true)
        .auto_delete(true)
        .finish();
    let fanout_exchange = topology::fanout_exchange(&spec.topic);
    declare_bound_queue(
        &channel,
        declare,
        &fanout_queue,
        &fanout_exchange,
        &spec.topic,
    )
    .await?;

    let queues = vec![topic_queue, server_queue, fanout_queue];
    consume_on(channel, events, &queues, spec.prefetch).await
}

/// Declares a durable queue bound to `exchange` with each of its keys
/// (notification queues).
pub(super) async fn declare_queue(
    channel: &Channel,
    exchange: &str,
    spec: &QueueSpec,
) -> Result<(), RpcError> {
    let declare = QueueDeclareArguments::new(&spec.name)
        .durable(spec.durable)
        .finish();
    channel.queue_declare(declare).await.map_err(|e| {
        RpcError::Connection(format!("declaring queue `{}` failed: {e}", spec.name))
    })?;
    for key in &spec.bindings {
        channel
            .queue_bind(QueueBindArguments::new(&spec.name, exchange, key))
            .await
            .map_err(|e| {
                RpcError::Connection(format!("binding queue `{}` failed: {e}", spec.name))
            })?;
    }
    Ok(())
}

/// Consumes existing queues on a new channel, acks left to the receiver.
pub(super) async fn consume(
    connection: &amqprs::connection::Connection,
    queues: &[String],
    prefetch: u16,
) -> Result<Listener, RpcError> {
    let (channel, events) = open_channel(connection).await?;
    channel
        .basic_qos(BasicQosArguments::new(0, prefetch, false))
        .await
        .map_err(RpcError::connection)?;
    consume_on(channel, events, queues, prefetch).await
}

async fn consume_on(
    channel: Channel,
    events: mpsc::UnboundedReceiver<ChannelEvent>,
    queues: &[String],
    prefetch: u16,
) -> Result<Listener, RpcError> {
    let mut streams = Vec::new();
    for queue in queues {
        let tag = uuid::Uuid::new_v4().simple().to_string();
        let args = BasicConsumeArguments::new(queue, &tag)
            .manual_ack(true)
            .finish();
        let (_tag, rx) = channel
            .basic_consume_rx(args)
            .await
            .map_err(|e| RpcError::Connection(format!("consuming `{queue}` failed: {e}")))?;
        streams.push((queue.clone(), rx));
    }
    let (tx, deliveries) = mpsc::channel(usize::from(prefetch).max(1));
    let stop = CancellationToken::new();
    tokio::spawn(pump(channel, streams, events, tx, stop.clone()));
    Ok(Listener {
        deliveries,
        _stop: stop.drop_guard(),
    })
}

/// Moves deliveries from amqprs's per-consumer streams to the server.
async fn pump(
    channel: Channel,
    streams: Vec<(String, mpsc::UnboundedReceiver<ConsumerMessage>)>,
    mut events: mpsc::UnboundedReceiver<ChannelEvent>,
    to_server: mpsc::Sender<Delivery>,
    stop: CancellationToken,
) {
    let (merged_tx, mut merged) = mpsc::unbounded_channel();
    for (queue, mut stream) in streams {
        let merged_tx = merged_tx.clone();
        tokio::spawn(async move {
            while let Some(message) = stream.recv().await {
                if merged_tx.send((queue.clone(), message)).is_err() {
                    break;
                }
            }
        });
    }
    drop(merged_tx);
    loop {
        tokio::select! {
            () = stop.cancelled() => break,
            message = merged.recv() => {
                let Some((queue, message)) = message else { break };
                let Some(delivery) = to_delivery(&channel, queue, message) else { continue };
                if to_server.send(delivery).await.is_err() {
                    break;
                }
            }
            Some(event) = events.recv() => match event {
                ChannelEvent::Closed { code, text } => {
                    tracing::error!(code, %text, "the broker closed a server channel");
                    break;
                }
                ChannelEvent::Cancelled { consumer_tag } => {
                    tracing::warn!(%consumer_tag, "the broker cancelled a server consumer");
                }
                _ => {}
            },
        }
    }
    if channel.is_open() {
        let _ = channel.close().await;
    }
}

fn to_delivery(channel: &Channel, queue: String, message: ConsumerMessage) -> Option<Delivery> {
    let deliver = message.deliver?;
    let props = message.basic_properties?;
    let body = message.content.unwrap_or_default();
    Some(Delivery {
        queue,
        message: from_delivery(&props, body),
        acker: Box::new(AmqpAcker {
            channel: channel.clone(),
            tag: deliver.delivery_tag(),
        }),
    })
}

struct AmqpAcker {
    channel: Channel,
    tag: u64,
}

impl Acker for AmqpAcker {
    fn ack(self: Box<Self>) -> BoxFuture<'static, Result<(), RpcError>> {
        Box::pin(async move {
            self.channel
                .basic_ack(BasicAckArguments::new(self.tag, false))
                .await
                .map_err(RpcError::connection)
        })
    }
}
