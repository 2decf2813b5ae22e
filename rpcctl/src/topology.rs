//! `rpcctl topology`: a topic's exchanges and queues as the broker sees them,
//! with message and consumer counts, read with passive declares (which need
//! no management plugin). Server queues are found through a fanout ping;
//! a server's exclusive fanout queue has a random name and is not listed.

use std::time::Duration;

use amqprs::channel::{ExchangeDeclareArguments, QueueDeclareArguments};
use amqprs::connection::{Connection, OpenConnectionArguments};
use rpc_runtime::{AmqpConfig, Transport};

use crate::Failure;
use crate::output;
use crate::request::gather_pings;

/// Prints the topology of `topic`.
pub(crate) async fn show(
    config: &AmqpConfig,
    transport: &Transport,
    topic: &str,
    window: Duration,
) -> Result<(), Failure> {
    let servers: Vec<String> = match gather_pings(transport, topic, window).await {
        Ok(answers) => answers.into_iter().map(|(_, p)| p.server).collect(),
        Err(_) => Vec::new(),
    };
    let mut args = OpenConnectionArguments::new(
        config.host(),
        config.port(),
        config.username(),
        config.password().expose(),
    );
    args.virtual_host(config.vhost());
    let connection = Connection::open(&args)
        .await
        .map_err(|e| Failure::Unreachable(format!("cannot connect to {config}: {e}")))?;
    let mut rows = Vec::new();
    for (name, kind) in [
        (config.exchange().to_owned(), "topic"),
        (format!("{topic}_fanout"), "fanout"),
    ] {
        let exists = exchange_exists(&connection, &name).await;
        rows.push([
            "exchange".to_owned(),
            name,
            kind.to_owned(),
            yes_no(exists),
            "-".into(),
            "-".into(),
        ]);
    }
    let mut queues = vec![topic.to_owned()];
    queues.extend(servers.iter().map(|s| format!("{topic}.{s}")));
    for name in queues {
        let row = match queue_counts(&connection, &name).await {
            Some((messages, consumers)) => [
                "queue".into(),
                name,
                "-".into(),
                "yes".into(),
                messages.to_string(),
                consumers.to_string(),
            ],
            None => [
                "queue".into(),
                name,
                "-".into(),
                "no".into(),
                "-".into(),
                "-".into(),
            ],
        };
        rows.push(row);
    }
    let _ = connection.close().await;
    output::topology_table(&rows);
    if servers.is_empty() {
        eprintln!("rpcctl: no server of `{topic}` answered a ping");
    }
    Ok(())
}

fn yes_no(value: bool) -> String {
    if value { "yes" } else { "no" }.to_owned()
}

async fn exchange_exists(connection: &Connection, name: &str) -> bool {
    let Ok(channel) = connection.open_channel(None).await else {
        return false;
    };
    let args = ExchangeDeclareArguments::new(name, "topic")
        .passive(true)
        .finish();
    let exists = channel.exchange_declare(args).await.is_ok();
    let _ = channel.close().await;
    exists
}

async fn queue_counts(connection: &Connection, name: &str) -> Option<(u32, u32)> {
    let channel = connection.open_channel(None).await.ok()?;
    let args = QueueDeclareArguments::new(name).passive(true).finish();
    let counts = channel
        .queue_declare(args)
        .await
        .ok()
        .flatten()
        .map(|(_, m, c)| (m, c));
    let _ = channel.close().await;
    counts
}
