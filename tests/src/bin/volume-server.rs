//! A volume server in a process of its own, for tests that signal or kill
//! it as a service manager would: serves the tests' recording manager until
//! SIGTERM or SIGINT, then answers the requests in flight and exits.
//!
//! Usage: `volume-server <amqp-url> <control-exchange> <topic> <server> <queue-expiry-ms>`
//!
//! Logs as `RUST_LOG` says (warnings by default) on stderr. Prints `ready`
//! once serving, `event <Event>` for each thing its manager
//! does, and `stopped <true|false>` (whether every request in flight was
//! answered) at the end.

use std::sync::Arc;
use std::time::Duration;

use rpc_runtime::{AmqpConfig, Server};
use rpc_tests::volume::{Log, Recorder, VolumeManagerService};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    rpc_runtime::logging::init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [url, exchange, topic, server, expiry_ms] = args.as_slice() else {
        return Err(
            "usage: volume-server <amqp-url> <control-exchange> <topic> <server> <queue-expiry-ms>"
                .into(),
        );
    };
    let expiry = Duration::from_millis(expiry_ms.parse()?);
    let transport = AmqpConfig::from_url(url)?
        .control_exchange(exchange)
        .connect()
        .await?;
    let log = Arc::new(Log::default());
    let mut changes = log.watch();
    let printing = Arc::clone(&log);
    tokio::spawn(async move {
        let mut printed = 0;
        while changes.changed().await.is_ok() {
            let events = printing.events();
            for (_, event) in &events[printed..] {
                println!("event {event:?}");
            }
            printed = events.len();
        }
    });
    let server = Server::builder(&transport, server)
        .serve_on(
            topic,
            VolumeManagerService::new(Recorder::new(server, &log)),
        )
        .server_queue_expiry(Some(expiry))
        .stop_on(rpc_runtime::shutdown_signal())
        .start()
        .await?;
    println!("ready");
    let answered = server.wait().await;
    println!("stopped {answered}");
    transport.close().await;
    Ok(())
}
