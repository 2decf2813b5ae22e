//! The baselines: request/reply and confirmed casts written by hand with
//! amqprs, the way a careful user would without a framework.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use amqprs::callbacks::{ChannelCallback, DefaultConnectionCallback};
use amqprs::channel::{
    BasicAckArguments, BasicConsumeArguments, BasicPublishArguments, BasicQosArguments, Channel,
    ConfirmSelectArguments, ExchangeDeclareArguments, QueueBindArguments, QueueDeclareArguments,
};
use amqprs::connection::{Connection, OpenConnectionArguments};
use amqprs::{Ack, BasicProperties, Cancel, CloseChannel, Nack, Return};
use tokio::sync::oneshot;

/// Opens a connection to the broker of the AMQP `url`.
pub async fn connect(url: &str) -> Connection {
    let config = rpc_runtime::AmqpConfig::from_url(url).expect("url");
    let args = OpenConnectionArguments::new(
        config.host(),
        config.port(),
        config.username(),
        config.password().expose(),
    );
    let connection = Connection::open(&args).await.expect("connect");
    connection
        .register_callback(DefaultConnectionCallback)
        .await
        .expect("callback");
    connection
}

/// A channel with the prefetch, consuming a fresh auto-delete `queue` with manual acks.
async fn consume(
    connection: &Connection,
    queue: &str,
    prefetch: u16,
) -> (
    Channel,
    tokio::sync::mpsc::UnboundedReceiver<amqprs::channel::ConsumerMessage>,
) {
    let channel = connection.open_channel(None).await.expect("channel");
    channel
        .basic_qos(BasicQosArguments::new(0, prefetch, false))
        .await
        .expect("qos");
    channel
        .queue_declare(QueueDeclareArguments::new(queue).auto_delete(true).finish())
        .await
        .expect("declare");
    let (_, deliveries) = channel
        .basic_consume_rx(
            BasicConsumeArguments::new(queue, "")
                .manual_ack(true)
                .finish(),
        )
        .await
        .expect("consume");
    (channel, deliveries)
}

/// An echo server: takes requests from `queue` (prefetch as ours), acks on
/// receipt, replies to `reply_to` with the same correlation id.
pub async fn echo_server(
    connection: &Connection,
    queue: &str,
    prefetch: u16,
    delay_ms: u64,
) -> Channel {
    let (channel, mut deliveries) = consume(connection, queue, prefetch).await;
    let server = channel.clone();
    tokio::spawn(async move {
        while let Some(message) = deliveries.recv().await {
            let (Some(deliver), Some(props), Some(body)) =
                (message.deliver, message.basic_properties, message.content)
            else {
                continue;
            };
            let _ = server
                .basic_ack(BasicAckArguments::new(deliver.delivery_tag(), false))
                .await;
            let (Some(reply_to), Some(correlation)) =
                (props.reply_to().cloned(), props.correlation_id().cloned())
            else {
                continue;
            };
            // A request in our shape gets a reply in our shape.
            let ours = props.message_type().is_some();
            let channel = server.clone();
            let reply = async move {
                if delay_ms > 0 {
                    tokio::time::sleep(std::time::Duration::from_millis(delay_ms)).await;
                }
                let mut props = BasicProperties::default();
                props.with_correlation_id(&correlation);
                let mut args = BasicPublishArguments::new("", &reply_to);
                if ours {
                    props
                        .with_message_type("ok")
                        .with_content_type("application/x-bincode");
                    args.mandatory(true);
                }
                let _ = channel.basic_publish(props.finish(), body, args).await;
            };
            if delay_ms > 0 {
                tokio::spawn(reply);
            } else {
                reply.await;
            }
        }
    });
    channel
}

type Waiting = Arc<Mutex<HashMap<String, oneshot::Sender<Vec<u8>>>>>;

/// How a hand-written caller addresses the server.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// The server's queue on the default exchange, a reply queue.
    Plain,
    /// As `Plain`, with RabbitMQ's direct reply-to.
    DirectReplyTo,
    /// What our topology costs the broker: a topic exchange, `mandatory`,
    /// and the properties ours carry (method in `type`, content type),
    /// with a preamble's worth of bytes before the body.
    SameTopology,
}

/// The topic exchange of [`Style::SameTopology`].
pub const TOPIC_EXCHANGE: &str = "rpc-bench-hand";

/// Declares [`TOPIC_EXCHANGE`] and binds `queue` to it by its name.
pub async fn bind_to_topic_exchange(connection: &Connection, queue: &str) {
    let channel = connection.open_channel(None).await.expect("channel");
    channel
        .exchange_declare(ExchangeDeclareArguments::new(TOPIC_EXCHANGE, "topic"))
        .await
        .expect("exchange");
    channel
        .queue_bind(QueueBindArguments::new(queue, TOPIC_EXCHANGE, queue))
        .await
        .expect("bind");
    let _ = channel.close().await;
}

/// Gives a message the properties ours carry (method in `type`, content
/// type) and returns arguments that publish it `mandatory` through
/// [`TOPIC_EXCHANGE`] to `queue`. (The caller prepends [`PREAMBLE`].)
fn our_shape(props: &mut BasicProperties, queue: &str) -> BasicPublishArguments {
    props
        .with_message_type("echo")
        .with_content_type("application/x-bincode");
    let mut args = BasicPublishArguments::new(TOPIC_EXCHANGE, queue);
    args.mandatory(true);
    args
}

/// As many bytes as the preamble of a request of ours without a trace
/// (version byte, API version, timeout, request id).
pub const PREAMBLE: [u8; 50] = [2; 50];

/// A request/reply client with its own exclusive reply queue (or RabbitMQ's
/// direct reply-to), correlation ids in a locked map.
#[derive(Clone)]
pub struct Caller {
    channel: Channel,
    reply_to: String,
    queue: String,
    style: Style,
    next: Arc<AtomicU64>,
    waiting: Waiting,
}

impl Caller {
    pub async fn new(connection: &Connection, queue: &str, style: Style) -> Self {
        let channel = connection.open_channel(None).await.expect("channel");
        let reply_to = if style == Style::DirectReplyTo {
            "amq.rabbitmq.reply-to".to_owned()
        } else {
            let (name, _, _) = channel
                .queue_declare(QueueDeclareArguments::exclusive_server_named())
                .await
                .expect("declare")
                .expect("name");
            name
        };
        let (_, mut replies) = channel
            .basic_consume_rx(
                BasicConsumeArguments::new(&reply_to, "")
                    .auto_ack(true)
                    .finish(),
            )
            .await
            .expect("consume replies");
        let waiting: Waiting = Arc::default();
        let routed = Arc::clone(&waiting);
        tokio::spawn(async move {
            while let Some(message) = replies.recv().await {
                let (Some(props), Some(body)) = (message.basic_properties, message.content) else {
                    continue;
                };
                let Some(id) = props.correlation_id() else {
                    continue;
                };
                if let Some(tx) = routed.lock().expect("lock").remove(id) {
                    let _ = tx.send(body);
                }
            }
        });
        Self {
            channel,
            reply_to,
            queue: queue.to_owned(),
            style,
            next: Arc::default(),
            waiting,
        }
    }

    /// One call: publish, wait for the matching reply.
    pub async fn call(&self, body: Vec<u8>) -> Vec<u8> {
        let id = self.next.fetch_add(1, Ordering::Relaxed).to_string();
        let (tx, rx) = oneshot::channel();
        self.waiting.lock().expect("lock").insert(id.clone(), tx);
        let mut props = BasicProperties::default();
        props.with_correlation_id(&id).with_reply_to(&self.reply_to);
        let mut args = BasicPublishArguments::new("", &self.queue);
        let mut body = body;
        if self.style == Style::SameTopology {
            args = our_shape(&mut props, &self.queue);
            body.splice(0..0, PREAMBLE);
        }
        self.channel
            .basic_publish(props.finish(), body, args)
            .await
            .expect("publish");
        rx.await.expect("reply")
    }
}

/// A publisher with confirms: tags counted under a lock, acks (with
/// `multiple`) settled from the channel callback.
#[derive(Clone)]
pub struct ConfirmedPublisher {
    channel: Channel,
    state: Arc<tokio::sync::Mutex<u64>>,
    unconfirmed: Arc<Mutex<BTreeMap<u64, oneshot::Sender<bool>>>>,
    queue: String,
    style: Style,
}

struct Confirms(Arc<Mutex<BTreeMap<u64, oneshot::Sender<bool>>>>);

impl Confirms {
    fn settle(&self, tag: u64, multiple: bool, ok: bool) {
        let mut map = self.0.lock().expect("lock");
        let settled: Vec<u64> = if multiple {
            map.range(..=tag).map(|(t, _)| *t).collect()
        } else {
            vec![tag]
        };
        for tag in settled {
            if let Some(tx) = map.remove(&tag) {
                let _ = tx.send(ok);
            }
        }
    }
}

#[async_trait::async_trait]
impl ChannelCallback for Confirms {
    async fn close(&mut self, _: &Channel, _: CloseChannel) -> Result<(), amqprs::error::Error> {
        Ok(())
    }
    async fn cancel(&mut self, _: &Channel, _: Cancel) -> Result<(), amqprs::error::Error> {
        Ok(())
    }
    async fn flow(&mut self, _: &Channel, active: bool) -> Result<bool, amqprs::error::Error> {
        Ok(active)
    }
    async fn publish_ack(&mut self, _: &Channel, ack: Ack) {
        self.settle(ack.delivery_tag(), ack.mutiple(), true);
    }
    async fn publish_nack(&mut self, _: &Channel, nack: Nack) {
        self.settle(nack.delivery_tag(), nack.multiple(), false);
    }
    async fn publish_return(&mut self, _: &Channel, _: Return, _: BasicProperties, _: Vec<u8>) {}
}

impl ConfirmedPublisher {
    /// `style`: `Plain` or `SameTopology`.
    pub async fn new(connection: &Connection, queue: &str, style: Style) -> Self {
        let channel = connection.open_channel(None).await.expect("channel");
        let unconfirmed = Arc::new(Mutex::new(BTreeMap::new()));
        channel
            .register_callback(Confirms(Arc::clone(&unconfirmed)))
            .await
            .expect("callback");
        channel
            .confirm_select(ConfirmSelectArguments::new(false))
            .await
            .expect("confirms");
        Self {
            channel,
            state: Arc::new(tokio::sync::Mutex::new(0)),
            unconfirmed,
            queue: queue.to_owned(),
            style,
        }
    }

    /// Publishes and waits for the broker's ack.
    pub async fn publish(&self, body: Vec<u8>) {
        let (tx, rx) = oneshot::channel();
        {
            let mut tag = self.state.lock().await;
            *tag += 1;
            self.unconfirmed.lock().expect("lock").insert(*tag, tx);
            let mut props = BasicProperties::default();
            let mut args = BasicPublishArguments::new("", &self.queue);
            let mut body = body;
            if self.style == Style::SameTopology {
                args = our_shape(&mut props, &self.queue);
                body.splice(0..0, PREAMBLE);
            }
            self.channel
                .basic_publish(props.finish(), body, args)
                .await
                .expect("publish");
        }
        assert!(rx.await.expect("confirm"), "nacked");
    }
}

/// Counts what arrives on `queue` (acked on receipt).
pub async fn counting_consumer(
    connection: &Connection,
    queue: &str,
    prefetch: u16,
) -> Arc<AtomicU64> {
    let (channel, mut deliveries) = consume(connection, queue, prefetch).await;
    let count = Arc::new(AtomicU64::new(0));
    let counted = Arc::clone(&count);
    tokio::spawn(async move {
        let _keep = channel.clone();
        while let Some(message) = deliveries.recv().await {
            if let Some(deliver) = message.deliver {
                let _ = channel
                    .basic_ack(BasicAckArguments::new(deliver.delivery_tag(), false))
                    .await;
                counted.fetch_add(1, Ordering::Relaxed);
            }
        }
    });
    count
}
