//! Calls and casts over RabbitMQ in one process: ours against hand-written
//! amqprs in the same shapes.

use std::fmt::Write as _;
use std::time::Duration;

use rpc_runtime::Context;

use crate::measure::{Stats, interleaved, op};
use crate::{PAYLOAD, hand, hand_cast, hand_echo, ms, ours, ours_echo, rounds, row, url};

pub(crate) fn stats_cells(label: &str, workers: usize, s: Stats, base: Stats) -> Vec<String> {
    vec![
        workers.to_string(),
        label.to_owned(),
        format!("{:.0}", s.per_second),
        ms(s.p50),
        ms(s.p99),
        format!("{:.2}", s.per_second / base.per_second),
        format!("{:.2}", s.p50.as_secs_f64() / base.p50.as_secs_f64()),
    ]
}

pub(crate) async fn calls(report: &mut String, duration: Duration) {
    let connection = hand::connect(&url()).await;
    let topic = format!("bench-calls-{}", std::process::id());
    let queue = format!("bench-hand-{}", std::process::id());
    let _server = hand::echo_server(&connection, &queue, 64, 0).await;
    let client_connection = hand::connect(&url()).await;
    hand::bind_to_topic_exchange(&connection, &queue).await;
    let reply_queue = hand::Caller::new(&client_connection, &queue, hand::Style::Plain).await;
    let direct = hand::Caller::new(&client_connection, &queue, hand::Style::DirectReplyTo).await;
    let same = hand::Caller::new(&client_connection, &queue, hand::Style::SameTopology).await;
    let deployment = ours::Deployment::amqp(&url(), &topic, 64).await;
    let _ = writeln!(
        report,
        "## Calls over RabbitMQ ({PAYLOAD}-byte payload, prefetch 64)\n"
    );
    let _ = writeln!(
        report,
        "Ratios are against the hand-written reply-queue client (calls/s: higher is better; p50: lower is better).\n"
    );
    row(
        report,
        &[
            "callers",
            "implementation",
            "calls/s",
            "p50",
            "p99",
            "calls/s ratio",
            "p50 ratio",
        ]
        .map(String::from),
    );
    row(report, &["---"; 7].map(String::from));
    for workers in [1, 8, 64] {
        let ops = [
            hand_echo(&reply_queue),
            hand_echo(&direct),
            hand_echo(&same),
            ours_echo(&deployment.client),
        ];
        let stats = interleaved(workers, duration, rounds(duration), &ops).await;
        let labels = [
            "amqprs by hand, reply queue",
            "amqprs by hand, direct reply-to",
            "amqprs by hand, our topology and headers",
            "rpc-runtime",
        ];
        for (label, s) in labels.into_iter().zip(&stats) {
            row(report, &stats_cells(label, workers, *s, stats[0]));
        }
    }
    let _ = writeln!(report);
    deployment.close().await;
}

pub(crate) async fn casts(report: &mut String, duration: Duration) {
    let connection = hand::connect(&url()).await;
    let queue = format!("bench-casts-{}", std::process::id());
    let received = hand::counting_consumer(&connection, &queue, 64).await;
    hand::bind_to_topic_exchange(&connection, &queue).await;
    let plain = hand::ConfirmedPublisher::new(&connection, &queue, hand::Style::Plain).await;
    let same = hand::ConfirmedPublisher::new(&connection, &queue, hand::Style::SameTopology).await;
    let topic = format!("bench-casts-ours-{}", std::process::id());
    let deployment = ours::Deployment::amqp(&url(), &topic, 64).await;
    let client = deployment.client.clone();
    let text = "x".repeat(PAYLOAD);
    let ops = [
        hand_cast(plain),
        hand_cast(same),
        op(move || {
            let (client, text) = (client.clone(), text.clone());
            async move { client.sink(&Context::new(), text).await.expect("cast") }
        }),
    ];
    let stats = interleaved(64, duration, rounds(duration), &ops).await;
    let _ = writeln!(
        report,
        "## Casts with publisher confirms (64 concurrent senders)\n"
    );
    row(
        report,
        &[
            "implementation",
            "confirmed casts/s",
            "p50 (confirm)",
            "ratio",
        ]
        .map(String::from),
    );
    row(report, &["---"; 4].map(String::from));
    let labels = [
        "amqprs by hand",
        "amqprs by hand, our topology and headers",
        "rpc-runtime",
    ];
    for (label, s) in labels.into_iter().zip(&stats) {
        row(
            report,
            &[
                label.into(),
                format!("{:.0}", s.per_second),
                ms(s.p50),
                format!("{:.2}", s.per_second / stats[0].per_second),
            ],
        );
    }
    let _ = writeln!(
        report,
        "\nEvery confirmed cast reached the server: {} by hand, {} ours (counted by the consumers after the run).\n",
        received.load(std::sync::atomic::Ordering::Relaxed),
        deployment
            .manager
            .received
            .load(std::sync::atomic::Ordering::Relaxed),
    );
    deployment.close().await;
}
