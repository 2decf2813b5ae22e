//! The entities a server declares are oslo.messaging's: checked with passive
//! declares and with `rabbitmqctl`, as an operator would look at them.

use std::sync::Arc;

use amqprs::channel::{ExchangeDeclareArguments, QueueDeclareArguments};
use rpc_runtime::RpcError;
use rpc_tests::env::raw_connection;
use rpc_tests::volume::Log;
use rpc_tests::{Env, Kind};

/// Rows of a `rabbitmqctl` listing, or `None` when the tool is not usable here.
fn rabbitmqctl(args: &[&str]) -> Option<Vec<Vec<String>>> {
    let mut all = vec!["-q", "--no-table-headers"];
    all.extend_from_slice(args);
    let output = rpc_tests::env::rabbitmqctl(&all)?;
    Some(
        output
            .lines()
            .map(|line| line.split('\t').map(str::to_owned).collect())
            .collect(),
    )
}

fn row<'a>(rows: &'a [Vec<String>], first: &str) -> &'a [String] {
    rows.iter()
        .find(|r| r.first().is_some_and(|c| c == first))
        .unwrap_or_else(|| panic!("`{first}` not listed in {rows:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn declared_entities_are_osloes() {
    let Some(env) = Env::new(Kind::Amqp).await else {
        return;
    };
    let env = Arc::new(env);
    let log = Arc::new(Log::default());
    let server = env.server("host-1", &log).await;
    let topic = env.topic.clone();
    let exchange = env.exchange.clone();

    // Passive declares fail (and close the channel) when an entity is missing.
    let connection = raw_connection().await.expect("connect");
    let channel = connection.open_channel(None).await.expect("channel");
    for queue in [topic.clone(), format!("{topic}.host-1")] {
        let passive = QueueDeclareArguments::new(&queue).passive(true).finish();
        let declared = channel.queue_declare(passive).await.expect("queue exists");
        assert_eq!(
            declared.map(|(name, _, consumers)| (name, consumers)),
            Some((queue, 1))
        );
    }
    for name in [exchange.clone(), format!("{topic}_fanout")] {
        let passive = ExchangeDeclareArguments::new(&name, "topic")
            .passive(true)
            .finish();
        channel
            .exchange_declare(passive)
            .await
            .expect("exchange exists");
    }
    let _ = connection.close().await;

    if let Some(queues) =
        rabbitmqctl(&["list_queues", "name", "durable", "auto_delete", "exclusive"])
    {
        assert_eq!(row(&queues, &topic)[1..], ["false", "false", "false"]);
        assert_eq!(
            row(&queues, &format!("{topic}.host-1"))[1..],
            ["false", "false", "false"]
        );
        let fanout: Vec<_> = queues
            .iter()
            .filter(|r| r[0].starts_with(&format!("{topic}_fanout_")))
            .collect();
        assert_eq!(fanout.len(), 1, "{queues:?}");
        assert_eq!(fanout[0][1..], ["false", "true", "true"]);
        assert_eq!(fanout[0][0].len(), format!("{topic}_fanout_").len() + 32);

        let exchanges = rabbitmqctl(&["list_exchanges", "name", "type", "durable", "auto_delete"])
            .expect("rabbitmqctl");
        assert_eq!(row(&exchanges, &exchange)[1..], ["topic", "false", "false"]);
        assert_eq!(
            row(&exchanges, &format!("{topic}_fanout"))[1..],
            ["fanout", "false", "true"]
        );

        let bindings = rabbitmqctl(&[
            "list_bindings",
            "source_name",
            "destination_name",
            "routing_key",
        ])
        .expect("rabbitmqctl");
        let has = |source: &str, destination: &str, key: &str| {
            bindings.iter().any(|b| b == &[source, destination, key])
        };
        assert!(has(&exchange, &topic, &topic), "{bindings:?}");
        let server_queue = format!("{topic}.host-1");
        assert!(has(&exchange, &server_queue, &server_queue), "{bindings:?}");
        assert!(
            has(&format!("{topic}_fanout"), &fanout[0][0], &topic),
            "{bindings:?}"
        );
    }

    // The fanout queue goes away with the server's connection.
    server.shutdown().await;
    if let Ok(env) = Arc::try_unwrap(env) {
        env.cleanup().await;
    }
    if let Some(queues) = rabbitmqctl(&["list_queues", "name"]) {
        assert!(
            !queues.iter().any(|r| r[0].starts_with(&topic)),
            "left behind: {queues:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_name_over_amqps_limit_is_refused_not_a_panic() {
    let Some(env) = Env::new(Kind::Amqp).await else {
        return;
    };
    let transport = env.transport().await;
    let long = "q".repeat(300);
    match transport.queue_status(&long).await {
        Err(RpcError::Config(text)) => {
            assert!(
                text.contains("300 bytes, over AMQP's limit of 255"),
                "{text}"
            );
        }
        other => panic!("expected a Config error, got {other:?}"),
    }
    // The transport still works.
    assert_eq!(transport.queue_status(&env.topic).await, Ok(None));
    env.cleanup().await;
}
