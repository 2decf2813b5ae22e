//! The server processes of the scale bench that are this binary:
//! `--scale-serve ours|bare TOPIC FIRST COUNT classic|stream`.
//!
//! `ours` runs COUNT servers on one `Transport`. `bare` is the broker's
//! floor for the same shape: one amqprs connection declaring and consuming
//! the very queues COUNT of our servers would (the topic queue, each
//! server's `topic.server` and exclusive fanout queue, bound alike, 3
//! consumers a server, 99 a channel) and doing nothing else, so its idle
//! broker CPU is what those queues and consumers cost the broker by
//! themselves. Each prints `ready`, `got N` as its servers together
//! received N casts (ours only), and `stopped` once a line on stdin has
//! stopped it.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use amqprs::channel::{
    BasicConsumeArguments, BasicQosArguments, Channel, ExchangeDeclareArguments, ExchangeType,
    QueueBindArguments, QueueDeclareArguments, QueueDeleteArguments,
};
use amqprs::{FieldTable, FieldValue};
use rpc_runtime::{AmqpConfig, Context, RpcError, RpcStream, Server};
use tokio::sync::mpsc;

use crate::ours::{Echo, EchoService};
use crate::url;

/// The control exchange the scale bench's servers use.
pub(crate) const EXCHANGE: &str = "rpc-bench-scale";

/// Consumers a bare channel carries (33 servers of 3, as ours shares).
const PER_CHANNEL: usize = 99;

/// Counts casts; says when a multiple of `every` arrived.
struct Counter {
    received: AtomicU64,
    every: u64,
    full: mpsc::UnboundedSender<u64>,
}

impl Echo for Counter {
    async fn echo(&self, _ctx: &Context, payload: String) -> String {
        payload
    }
    async fn echo_after(&self, _ctx: &Context, payload: String, _millis: u64) -> String {
        payload
    }
    async fn sink(&self, _ctx: &Context, _payload: String) {
        let now = self.received.fetch_add(1, Ordering::Relaxed) + 1;
        if now.is_multiple_of(self.every) {
            let _ = self.full.send(now);
        }
    }
    async fn items(&self, _ctx: &Context, _n: u64, _size: u64) -> RpcStream<String, RpcError> {
        RpcStream::iter(std::iter::empty())
    }
}

/// The broker URL, with oslo's stream fanout or not.
pub(crate) fn url_for(stream: bool) -> String {
    if stream {
        format!("{}?rabbit_stream_fanout=true", url())
    } else {
        url()
    }
}

/// Waits for a line on stdin without holding a Tokio worker.
async fn until_stdin_line() {
    let _ = tokio::task::spawn_blocking(|| {
        let mut line = String::new();
        let _ = std::io::stdin().read_line(&mut line);
    })
    .await;
}

/// `count` of our servers on one transport until stopped.
pub async fn ours(topic: &str, first: usize, count: usize, stream: bool) {
    rpc_runtime::logging::init();
    let transport = AmqpConfig::from_url(&url_for(stream))
        .expect("url")
        .control_exchange(EXCHANGE)
        .connection_name(format!("scale-ours-{}", std::process::id()))
        .connect()
        .await
        .expect("connect");
    let (full, mut fulls) = mpsc::unbounded_channel();
    let counter = Arc::new(Counter {
        received: AtomicU64::new(0),
        every: count as u64,
        full,
    });
    let mut servers = Vec::with_capacity(count);
    for chunk in (first..first + count).collect::<Vec<_>>().chunks(100) {
        let starting = chunk.iter().map(|n| {
            Server::builder(&transport, format!("s{n}"))
                .serve_on(topic, EchoService::from_arc(Arc::clone(&counter)))
                .start()
        });
        for server in futures::future::join_all(starting).await {
            servers.push(server.expect("start a server"));
        }
    }
    println!("ready");
    tokio::spawn(async move {
        while let Some(n) = fulls.recv().await {
            println!("got {n}");
        }
    });
    until_stdin_line().await;
    futures::future::join_all(servers.into_iter().map(Server::shutdown)).await;
    transport.close().await;
    println!("stopped");
}

/// The queues and consumers of `count` servers, by hand, until stopped.
pub async fn bare(topic: &str, first: usize, count: usize) {
    let connection = crate::hand::connect(&url()).await;
    let admin = connection.open_channel(None).await.expect("channel");
    let fanout_exchange = format!("{topic}_fanout");
    let mut control = ExchangeDeclareArguments::of_type(EXCHANGE, ExchangeType::Topic);
    control.durable(false);
    admin.exchange_declare(control).await.expect("exchange");
    let mut fanout = ExchangeDeclareArguments::of_type(&fanout_exchange, ExchangeType::Fanout);
    fanout.auto_delete(true);
    admin
        .exchange_declare(fanout)
        .await
        .expect("fanout exchange");
    declare(&admin, topic, EXCHANGE, topic, Shape::Topic).await;

    let mut own = Vec::with_capacity(count);
    let mut consumed = Vec::with_capacity(count * 3);
    for n in first..first + count {
        let server = format!("{topic}.s{n}");
        declare(&admin, &server, EXCHANGE, &server, Shape::Own).await;
        let fanout = format!("{topic}_fanout_{}", uuid::Uuid::new_v4().simple());
        declare(&admin, &fanout, &fanout_exchange, "", Shape::Fanout).await;
        consumed.extend([topic.to_owned(), server.clone(), fanout]);
        own.push(server);
    }
    let mut channels: Vec<Channel> = Vec::new();
    // Nothing is sent to the queues: the deliveries are never read.
    let mut receivers = Vec::with_capacity(consumed.len());
    for (i, queue) in consumed.iter().enumerate() {
        if i % PER_CHANNEL == 0 {
            channels.push(connection.open_channel(None).await.expect("channel"));
        }
        let channel = channels.last().expect("opened above");
        channel
            .basic_qos(BasicQosArguments::new(0, 64, false))
            .await
            .expect("qos");
        let args = BasicConsumeArguments::new(queue, "")
            .manual_ack(true)
            .finish();
        receivers.push(channel.basic_consume_rx(args).await.expect("consume").1);
    }
    println!("ready");
    until_stdin_line().await;
    drop(receivers);
    for channel in channels {
        let _ = channel.close().await;
    }
    for queue in own {
        let _ = admin.queue_delete(QueueDeleteArguments::new(&queue)).await;
    }
    let _ = connection.close().await;
    println!("stopped");
}

/// Which of a server's queues.
#[derive(Clone, Copy, PartialEq)]
enum Shape {
    /// Shared by the topic's servers.
    Topic,
    /// A server's `topic.server`, with our 30 min expiry.
    Own,
    /// A server's fanout queue: exclusive, auto-deleted.
    Fanout,
}

/// Declares `queue` as our servers do and binds it.
async fn declare(channel: &Channel, queue: &str, exchange: &str, key: &str, shape: Shape) {
    let args = match shape {
        Shape::Fanout => QueueDeclareArguments::new(queue)
            .exclusive(true)
            .auto_delete(true)
            .finish(),
        Shape::Topic | Shape::Own => {
            let mut arguments = FieldTable::new();
            if shape == Shape::Own {
                let expires = "x-expires".try_into().expect("a short name");
                arguments.insert(expires, FieldValue::l(30 * 60 * 1000));
            }
            QueueDeclareArguments::new(queue)
                .arguments(arguments)
                .finish()
        }
    };
    channel.queue_declare(args).await.expect("declare");
    channel
        .queue_bind(QueueBindArguments::new(queue, exchange, key))
        .await
        .expect("bind");
}
