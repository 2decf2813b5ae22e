//! 100,000 random and mutated messages (bodies and headers) published by
//! hand into a running server's queue, and 20,000 oslo.messaging-shaped
//! ones into an oslo-wire server's: no panic, the server still answers a
//! valid call afterwards, and memory stays flat.
//!
//! Header values are random UTF-8 strings or non-string AMQP values: amqprs
//! closes the connection on non-UTF-8 bytes in a header string, a known
//! limitation of its decoder that no server code can catch.

use std::sync::Arc;
use std::time::Duration;

use amqprs::channel::{BasicPublishArguments, QueueDeclareArguments};
use amqprs::{BasicProperties, FieldTable, FieldValue};
use rpc_runtime::Context;
use rpc_runtime::codec::{Bincode, Codec};
use rpc_runtime::wire::Wire;
use rpc_tests::env::raw_connection;
use rpc_tests::volume::Log;
use rpc_tests::{Env, Kind};

const MESSAGES: usize = 100_000;

/// xorshift64*: reproducible noise without a dependency.
struct Noise(u64);

impl Noise {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    fn text(&mut self, max: usize) -> String {
        let len = self.below(max + 1);
        (0..len)
            .map(|_| match self.below(10) {
                0 => char::from_u32(0x80 + self.below(0x7ff) as u32).unwrap_or('?'),
                _ => (b' ' + self.below(95) as u8) as char,
            })
            .collect()
    }

    fn bytes(&mut self, max: usize) -> Vec<u8> {
        let len = self.below(max + 1);
        (0..len).map(|_| self.next() as u8).collect()
    }
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kib| kib.parse().ok())
        })
        .unwrap_or(0)
}

fn garbage(noise: &mut Noise, valid_bodies: &[Vec<u8>]) -> (BasicProperties, Vec<u8>) {
    // Methods that answer at once: random arguments to the slow ones could
    // hold the server's permits for hours.
    const METHODS: [&str; 6] = [
        "whoami",
        "get_volume",
        "create_volume",
        "context_seen",
        "delete_volume",
        "nope",
    ];
    let mut table = FieldTable::new();
    let mut header = |name: &str, noise: &mut Noise, valid: String| {
        let value = match noise.below(6) {
            0 => FieldValue::l(noise.next() as i64),
            1 => FieldValue::t(noise.chance(50)),
            2 => FieldValue::F(FieldTable::new()),
            3 => FieldValue::from(noise.text(40)),
            _ => FieldValue::from(valid),
        };
        table.insert(name.try_into().expect("short name"), value);
    };
    if noise.chance(90) {
        let method = METHODS[noise.below(METHODS.len())].to_owned();
        header("x-rpc-method", noise, method);
    }
    if noise.chance(50) {
        let version = ["1.0", "1.9", "2.0", "0.1", "x.y", ""][noise.below(6)].to_owned();
        header("x-rpc-version", noise, version);
    }
    if noise.chance(30) {
        let timeout = noise.below(20_000).to_string();
        header("x-rpc-timeout", noise, timeout);
    }
    if noise.chance(20) {
        let monitor = noise.below(5_000).to_string();
        header("x-rpc-call-monitor", noise, monitor);
    }
    if noise.chance(30) {
        let traceparent = format!("00-{:032x}-{:016x}-01", noise.next(), noise.next());
        header("traceparent", noise, traceparent);
    }
    if noise.chance(30) {
        let name = format!("x-ctx-{}", noise.text(8));
        if name.len() < 200 {
            let value = noise.text(30);
            header(&name, noise, value);
        }
    }
    let mut props = BasicProperties::default();
    props.with_headers(table);
    if noise.chance(20) {
        props.with_content_type(
            ["application/json", "application/x-bincode", "text/plain"][noise.below(3)],
        );
    }
    if noise.chance(10) {
        props.with_reply_to(&format!("reply_{}", noise.below(1000)));
        props.with_correlation_id(&noise.text(20));
    }
    let body = if noise.chance(50) && !valid_bodies.is_empty() {
        let mut body = valid_bodies[noise.below(valid_bodies.len())].clone();
        for _ in 0..=noise.below(3) {
            if body.is_empty() {
                break;
            }
            let at = noise.below(body.len());
            body[at] = noise.next() as u8;
        }
        if noise.chance(20) {
            body.extend(noise.bytes(16));
        }
        body
    } else {
        noise.bytes(256)
    };
    (props.finish(), body)
}

/// oslo.messaging-shaped garbage: random bytes, broken envelopes, and valid
/// envelopes around mutated requests (truncated, with flipped characters,
/// wrong types, deep nesting, unroutable or over-long reply queues).
fn oslo_garbage(noise: &mut Noise) -> (BasicProperties, Vec<u8>) {
    const METHODS: [&str; 5] = [
        "whoami",
        "get_volume",
        "create_volume",
        "context_seen",
        "nope",
    ];
    let body = match noise.below(10) {
        0 => noise.bytes(256),
        1 => noise.text(256).into_bytes(),
        2 => {
            let depth = 1 + noise.below(2000);
            let inner = "[".repeat(depth) + &"]".repeat(depth);
            serde_json::json!({"oslo.version": "2.0", "oslo.message": inner})
                .to_string()
                .into_bytes()
        }
        3 => serde_json::json!({"oslo.version": noise.text(5), "oslo.message": noise.text(40)})
            .to_string()
            .into_bytes(),
        _ => {
            let method = METHODS[noise.below(METHODS.len())];
            let args = match noise.below(4) {
                0 => serde_json::json!({"id": noise.next()}),
                1 => serde_json::json!({"name": noise.text(10), "size_gb": noise.below(200)}),
                2 => serde_json::json!(noise.text(10)),
                _ => serde_json::json!({}),
            };
            let mut inner = serde_json::json!({
                "method": method, "args": args, "_unique_id": format!("{:x}", noise.next()),
                "_context_request_id": noise.text(20), "_context_roles": ["admin"],
            });
            if noise.chance(30) {
                let queue = match noise.below(3) {
                    0 => format!("reply_{}", noise.below(1000)),
                    1 => "r".repeat(300),
                    _ => noise.text(30),
                };
                inner["_reply_q"] = queue.into();
                inner["_msg_id"] = noise.text(20).into();
                inner["_timeout"] = [serde_json::json!(null), 2.into(), (-1).into(), "x".into()]
                    [noise.below(4)]
                .clone();
            }
            let mut text = inner.to_string().into_bytes();
            for _ in 0..noise.below(3) {
                if text.is_empty() {
                    break;
                }
                let at = noise.below(text.len());
                text[at] = b' ' + noise.below(95) as u8;
            }
            if noise.chance(10) {
                text.truncate(noise.below(text.len() + 1));
            }
            let inner = String::from_utf8_lossy(&text).into_owned();
            serde_json::json!({"oslo.version": "2.0", "oslo.message": inner})
                .to_string()
                .into_bytes()
        }
    };
    let mut props = BasicProperties::default();
    if noise.chance(50) {
        props.with_content_type("application/json");
    }
    if noise.chance(20) {
        props.with_expiration(&noise.below(20_000).to_string());
    }
    (props.finish(), body)
}

/// Publishes `messages` made by `make` into a running server's queue, waits
/// until it drained them, and checks it still answers with flat memory.
async fn flood(
    env: Env,
    messages: usize,
    mut make: impl FnMut(&mut Noise) -> (BasicProperties, Vec<u8>),
) {
    let log = Arc::new(Log::default());
    let _server = env.server("host-1", &log).await;
    let client = env.client(&env.transport().await);
    assert_eq!(
        client.whoami(&Context::new()).await.expect("call"),
        "host-1"
    );
    let before = rss_kib();
    let connection = raw_connection().await.expect("connect");
    let channel = connection.open_channel(None).await.expect("channel");
    let queue = format!("{}.host-1", env.topic);
    let publish = BasicPublishArguments::new(&env.exchange, &queue);
    let mut noise = Noise(0x5eed_1234_abcd_0042);
    for _ in 0..messages {
        let (props, body) = make(&mut noise);
        channel
            .basic_publish(props, body, publish.clone())
            .await
            .expect("publish");
    }
    // Wait for the server to drain its queue.
    let drained = async {
        loop {
            let passive = QueueDeclareArguments::new(&queue).passive(true).finish();
            let waiting = channel
                .queue_declare(passive)
                .await
                .expect("queue")
                .map_or(0, |(_, n, _)| n);
            if waiting == 0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(300), drained)
        .await
        .expect("the server drained its queue");
    let _ = connection.close().await;

    assert_eq!(
        client.whoami(&Context::new()).await.expect("still serving"),
        "host-1"
    );
    let after = rss_kib();
    println!(
        "random input ({:?} wire): {messages} messages, 0 crashes, RSS before {} MiB, after {} MiB",
        env.wire,
        before / 1024,
        after / 1024
    );
    assert!(
        after < before + 64 * 1024,
        "memory grew from {before} KiB to {after} KiB"
    );
    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_thousand_random_messages_do_not_hurt_the_server() {
    let Some(env) = Env::new(Kind::Amqp).await else {
        return;
    };
    let codec = Bincode::default();
    let valid_bodies = vec![
        codec.encode(&(5u64,)).expect("encode"),
        codec.encode(&("db".to_owned(), 10u32)).expect("encode"),
        codec.encode(&()).expect("encode"),
    ];
    flood(env, MESSAGES, |noise| garbage(noise, &valid_bodies)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_oslo_messages_do_not_hurt_an_oslo_server() {
    let Some(env) = Env::speaking(Kind::Amqp, Wire::Oslo).await else {
        return;
    };
    flood(env, MESSAGES / 5, oslo_garbage).await;
}
