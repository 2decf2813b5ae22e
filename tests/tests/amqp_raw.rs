//! Bytes from the network are untrusted: messages published by hand with
//! amqprs (odd header types, an unknown content type, no properties at all)
//! reach a real server, which answers what it can and keeps serving. And a
//! failed connection never shows the password.

use std::sync::Arc;
use std::time::Duration;

use amqprs::channel::{BasicConsumeArguments, BasicPublishArguments, QueueDeclareArguments};
use amqprs::{BasicProperties, FieldTable, FieldValue};
use rpc_runtime::{AmqpConfig, Context, RpcError};
use rpc_tests::env::{amqp_url, raw_connection};
use rpc_tests::volume::Log;
use rpc_tests::{Env, Kind};

fn headers(pairs: &[(&str, FieldValue)]) -> FieldTable {
    let mut table = FieldTable::new();
    for (name, value) in pairs {
        table.insert((*name).try_into().expect("short name"), value.clone());
    }
    table
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hand_published_garbage_does_not_stop_the_server() {
    let Some(env) = Env::new(Kind::Amqp).await else {
        return;
    };
    let env = Arc::new(env);
    let log = Arc::new(Log::default());
    let _server = env.server("host-1", &log).await;

    let connection = raw_connection().await.expect("connect");
    let channel = connection.open_channel(None).await.expect("channel");
    let (reply_queue, _, _) = channel
        .queue_declare(QueueDeclareArguments::new("").exclusive(true).finish())
        .await
        .expect("declare")
        .expect("a name");
    let (_tag, mut replies) = channel
        .basic_consume_rx(
            BasicConsumeArguments::new(&reply_queue, "raw")
                .auto_ack(true)
                .finish(),
        )
        .await
        .expect("consume");

    let queue = format!("{}.host-1", env.topic);
    let publish = BasicPublishArguments::new(&env.exchange, &queue);
    let cases: Vec<(BasicProperties, Vec<u8>)> = vec![
        (BasicProperties::default(), vec![]),
        (
            BasicProperties::default()
                .with_headers(headers(&[("x-rpc-method", FieldValue::l(42))]))
                .with_reply_to(&reply_queue)
                .with_correlation_id("1")
                .finish(),
            vec![1, 2, 3],
        ),
        (
            BasicProperties::default()
                .with_message_type("whoami")
                .with_content_type("text/plain")
                .with_reply_to(&reply_queue)
                .with_correlation_id("2")
                .finish(),
            b"{}".to_vec(),
        ),
        (
            BasicProperties::default()
                .with_message_type("get_volume")
                .with_headers(headers(&[("x-roles", FieldValue::F(FieldTable::new()))]))
                .with_reply_to(&reply_queue)
                .with_correlation_id("3")
                .finish(),
            vec![2, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
        ),
    ];
    for (props, body) in cases {
        channel
            .basic_publish(props, body, publish.clone())
            .await
            .expect("publish");
    }
    // The three messages with a reply address each get an error reply.
    let mut answered = Vec::new();
    while answered.len() < 3 {
        let message = tokio::time::timeout(Duration::from_secs(10), replies.recv())
            .await
            .expect("an error reply in time")
            .expect("consumer open");
        let props = message.basic_properties.expect("properties");
        assert_eq!(props.message_type().map(String::as_str), Some("failure"));
        answered.push(props.correlation_id().cloned().expect("correlation id"));
    }
    answered.sort();
    assert_eq!(answered, ["1", "2", "3"]);
    let _ = connection.close().await;

    let client = env.client(&env.transport().await);
    assert_eq!(
        client.whoami(&Context::new()).await.expect("still serving"),
        "host-1"
    );
    if let Ok(env) = Arc::try_unwrap(env) {
        env.cleanup().await;
    }
}

/// RabbitMQ waits 3 s before dropping a client that did not ask to be
/// told of a refused login; the transport asks, and says so at once.
#[tokio::test]
async fn a_refused_login_is_an_authentication_error_at_once_without_the_password() {
    let Some(_env) = Env::new(Kind::Amqp).await else {
        return;
    };
    let config = AmqpConfig::from_url(&amqp_url()).expect("url");
    let url = format!(
        "amqp://guest:hunter2-not-the-password@{}:{}/%2f",
        config.host(),
        config.port()
    );
    let config = AmqpConfig::from_url(&url).expect("url");
    let shown = format!("{config} {config:?}");
    let started = std::time::Instant::now();
    let error = config.connect().await.expect_err("wrong password");
    let took = started.elapsed();
    assert!(
        matches!(&error, RpcError::Authentication { user, .. } if user == "guest"),
        "{error:?}"
    );
    assert!(
        error.to_string().contains("refused the login of `guest`"),
        "{error}"
    );
    assert!(took < std::time::Duration::from_secs(1), "took {took:?}");
    let shown = format!("{shown} {error} {error:?}");
    assert!(!shown.contains("hunter2"), "{shown}");
    assert!(shown.contains("guest"), "{shown}");
}

/// A vhost the broker does not have is named, not reported as a dropped
/// connection.
#[tokio::test]
async fn a_missing_vhost_is_named_at_once() {
    let Some(_env) = Env::new(Kind::Amqp).await else {
        return;
    };
    let config = AmqpConfig::from_url(&amqp_url()).expect("url");
    let url = format!(
        "amqp://guest:guest@{}:{}/no-such-vhost",
        config.host(),
        config.port()
    );
    let started = std::time::Instant::now();
    let error = AmqpConfig::from_url(&url)
        .expect("url")
        .connect()
        .await
        .expect_err("no such vhost");
    assert!(
        matches!(&error, RpcError::VhostRefused { vhost, .. } if vhost == "no-such-vhost"),
        "{error:?}"
    );
    assert!(
        error.to_string().contains("refused vhost `no-such-vhost`"),
        "{error}"
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(2),
        "{error}"
    );
}
