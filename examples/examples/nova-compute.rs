//! A Rust compute service joining an OpenStack deployment: it answers part
//! of nova's compute RPC API over oslo.messaging's wire format, so nova's
//! own Python `compute/rpcapi.py` calls it unchanged.
//!
//! ```text
//! cargo run --example nova-compute                     # in memory: serves, calls itself once, exits
//! cargo run --example nova-compute -- --amqp amqp://guest:guest@127.0.0.1:5672/%2f
//! cargo run --example nova-compute -- --config-file /etc/nova/nova.conf
//! ```
//!
//! After each `refresh_instance_security_rules` it emits the notification
//! `compute.security_rules.refreshed` (oslo's format, `notifications.info`).
//!
//! With `--amqp` or `--config-file` it serves until Ctrl-C or SIGTERM. A Python caller, as nova's
//! `ComputeAPI.get_host_uptime` makes it:
//!
//! ```text
//! from oslo_config import cfg
//! import oslo_messaging as messaging
//! cfg.CONF([])
//! transport = messaging.get_rpc_transport(cfg.CONF, url="rabbit://guest:guest@127.0.0.1:5672/")
//! target = messaging.Target(topic="compute", exchange="nova", version="6.0")
//! client = messaging.get_rpc_client(transport, target)
//! print(client.prepare(server="compute-rs-1").call({"request_id": "req-1"}, "get_host_uptime"))
//! ```

use clap::Parser;
use examples::compute::{
    ComputeManager, ComputeManagerClient, ComputeManagerService, RulesRefreshed,
};
use rpc_runtime::notify::Notifier;
use rpc_runtime::transport::MemoryBroker;
use rpc_runtime::wire::Wire;
use rpc_runtime::{AmqpConfig, Context, Server, Transport};

struct Compute {
    host: String,
    notifier: Notifier,
    /// Signalled after each cast, so the in-memory run can wait for one.
    cast_done: std::sync::Arc<tokio::sync::Notify>,
}

impl ComputeManager for Compute {
    async fn get_host_uptime(&self, ctx: &Context) -> String {
        println!(
            "compute  <- get_host_uptime (request {}, user {:?}, is_admin {:?})",
            ctx.request_id(),
            ctx.user_id(),
            ctx.raw_value("is_admin")
        );
        " 10:00:00 up 1 day,  2 users,  load average: 0.00".to_owned()
    }

    async fn refresh_instance_security_rules(&self, ctx: &Context, instance: serde_json::Value) {
        let uuid = &instance["nova_object.data"]["uuid"];
        println!(
            "compute  <- refresh_instance_security_rules for {uuid} (request {})",
            ctx.request_id()
        );
        let refreshed = RulesRefreshed {
            instance_uuid: uuid.as_str().unwrap_or_default().to_owned(),
            host: self.host.clone(),
        };
        let event = "compute.security_rules.refreshed";
        if let Err(error) = self.notifier.info(ctx, event, &refreshed).await {
            eprintln!("compute  could not emit {event}: {error}");
        }
        self.cast_done.notify_one();
    }
}

#[derive(Debug, Parser)]
#[command(about = "A Rust nova-compute answering oslo.messaging calls")]
struct Args {
    /// RabbitMQ URL; without it (or `--config-file`), runs once in memory.
    #[arg(long)]
    amqp: Option<String>,
    /// nova.conf: the broker, control exchange and `[oslo_messaging_rabbit]`
    /// options as nova reads them (other messaging options are named in a
    /// warning).
    #[arg(long, conflicts_with = "amqp")]
    config_file: Option<std::path::PathBuf>,
    /// The compute host's name (nova's `CONF.host`).
    #[arg(long, default_value = "compute-rs-1")]
    host: String,
    /// The control exchange (`nova` in a nova deployment).
    #[arg(long, default_value = "nova")]
    exchange: String,
    /// Which logs to print, e.g. `debug` or `rpc_runtime=debug` (default:
    /// `RUST_LOG`, else warnings).
    #[arg(long)]
    log: Option<String>,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    examples::logging::init(args.log.as_deref());
    let transport = match (&args.amqp, &args.config_file) {
        (_, Some(path)) => Transport::from_oslo_config(path).await?,
        (Some(url), None) => {
            AmqpConfig::from_url(url)?
                .wire(Wire::Oslo)
                .control_exchange(&args.exchange)
                .connect()
                .await?
        }
        (None, None) => MemoryBroker::new().connect_with_wire(&args.exchange, Wire::Oslo),
    };
    let served = serve(&args, &transport).await;
    // Closed whether serving went well or not: the broker operations still
    // running when main returns would be cut off half-way.
    transport.close().await;
    served
}

/// Serves `compute` (and, in memory, plays nova's side against it).
async fn serve(args: &Args, transport: &Transport) -> Result<(), Box<dyn std::error::Error>> {
    let publisher = format!("compute.{}", args.host);
    // [oslo_messaging_notifications] says where notifications go, if anywhere.
    let notifier = match &args.config_file {
        Some(path) => {
            let conf = rpc_runtime::transport::amqp::OsloConfig::read(path)?;
            Notifier::from_oslo_config(transport, &conf, publisher)?
        }
        None => Notifier::new(transport, publisher),
    };
    let compute = Compute {
        host: args.host.clone(),
        notifier,
        cast_done: std::sync::Arc::default(),
    };
    let cast_done = std::sync::Arc::clone(&compute.cast_done);
    let server = Server::builder(transport, &args.host)
        .serve(ComputeManagerService::new(compute))
        .start()
        .await?;
    // Listening before saying so: a SIGTERM sent on seeing the line stops
    // the server instead of killing the process.
    let on_broker = args.amqp.is_some() || args.config_file.is_some();
    let stop = on_broker.then(rpc_runtime::shutdown_signal);
    println!(
        "compute  serving `compute` and `compute.{}` on exchange `{}`, oslo.messaging wire",
        args.host, args.exchange
    );
    if let Some(stop) = stop {
        stop.cancelled().await;
    } else {
        // What nova's Python side would send, from a Rust client.
        let client = ComputeManagerClient::new(transport).to_server(&args.host);
        let ctx = Context::new()
            .with_user_id("admin")
            .with_raw_value("is_admin", "true");
        let uptime = client.get_host_uptime(&ctx).await?;
        println!(
            "api      -> compute.{} get_host_uptime = {uptime:?}",
            args.host
        );
        let instance = serde_json::json!({"nova_object.name": "Instance",
            "nova_object.data": {"uuid": "9f6c6b4e-6c8a-4c44-9c1c-3f2a1b7e5d10"}});
        client
            .refresh_instance_security_rules(&ctx, instance)
            .await?;
        println!(
            "api      -> compute.{} refresh_instance_security_rules (cast)",
            args.host
        );
        tokio::time::timeout(std::time::Duration::from_secs(5), cast_done.notified()).await?;
    }
    server.shutdown().await;
    Ok(())
}
