//! A small OpenStack-like deployment: an api asks the scheduler (a call to
//! any scheduler) where a volume should go, then casts `create_volume` to
//! that volume host (`volume.<host>`), and fans `refresh_capabilities` out to
//! every volume host, and streams each host's volumes back (`stream_volumes`).
//! Volume hosts emit `volume.create.start/.end`
//! notifications, which a billing listener prints.
//!
//! ```text
//! cargo run --example mini-cloud                       # everything in one process, in memory
//! cargo run --example mini-cloud -- --amqp amqp://guest:guest@127.0.0.1:5672/%2f
//! cargo run --example mini-cloud -- --amqp URL --role volume --host host-2   # one role per process
//! cargo run --example mini-cloud -- --metrics 127.0.0.1:9464   # then scrape http://127.0.0.1:9464/metrics
//! cargo run --example mini-cloud -- --otlp http://127.0.0.1:4318/v1/traces   # spans to Jaeger/Tempo
//! ```
//!
//! With `--metrics`, the example keeps serving after its scenario until
//! Ctrl-C, so the endpoint can be scraped.

use std::time::{Duration, Instant};

use clap::{Parser, ValueEnum};
use examples::logging::Options;
use examples::managers::{Billing, Scheduler, VolumeHost};
use examples::services::{
    SchedulerManagerClient, SchedulerManagerService, VolumeManagerClient, VolumeManagerService,
};
use examples::trace::{line, ms};
use rpc_runtime::notify::{NotificationListener, Priority};
use rpc_runtime::{Context, RpcError, Server, Transport};

#[derive(Debug, Parser)]
#[command(about = "A small OpenStack-like deployment on rpc-runtime")]
struct Args {
    /// RabbitMQ URL; without it everything runs on the in-memory transport.
    #[arg(long)]
    amqp: Option<String>,
    /// Run one role only (needs --amqp); by default all roles run here.
    #[arg(long, value_enum)]
    role: Option<Role>,
    /// The volume host's name (with --role volume).
    #[arg(long, default_value = "host-1")]
    host: String,
    /// The volume host's capacity in GB (with --role volume).
    #[arg(long, default_value_t = 100)]
    capacity_gb: u32,
    /// How many volume hosts the api waits for (with --role api).
    #[arg(long, default_value_t = 2)]
    hosts: usize,
    /// Which logs to print, e.g. `debug` or `rpc_runtime=debug` (default:
    /// `RUST_LOG`, else warnings).
    #[arg(long)]
    log: Option<String>,
    /// Serve Prometheus metrics on this address (`/metrics`), and keep
    /// serving after the scenario until Ctrl-C.
    #[arg(long)]
    metrics: Option<std::net::SocketAddr>,
    /// Send the runtime's spans to this OTLP/HTTP traces endpoint, e.g.
    /// `http://127.0.0.1:4318/v1/traces`.
    #[arg(long)]
    otlp: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Role {
    Api,
    Scheduler,
    Volume,
    Billing,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let service = match args.role {
        None => "mini-cloud".to_owned(),
        Some(role) => format!("mini-cloud-{role:?}").to_lowercase(),
    };
    let telemetry = examples::logging::start(Options {
        log: args.log.as_deref(),
        metrics: args.metrics,
        otlp: args.otlp.as_deref(),
        service: &service,
    })?;
    if let Some(addr) = args.metrics {
        line("metrics", format!("http://{addr}/metrics"));
    }
    if args.role.is_some() && args.amqp.is_none() {
        return Err(
            "--role needs --amqp: in memory, roles can only meet inside one process".into(),
        );
    }
    let transport = Transport::open(args.amqp.as_deref()).await?;
    let played = play(&args, &transport).await;
    // Closed whether the role succeeded or not: the broker operations
    // still running when main returns would be cut off half-way.
    transport.close().await;
    telemetry.shutdown();
    played
}

/// Runs the role (all of them by default) on `transport`.
async fn play(args: &Args, transport: &Transport) -> Result<(), Box<dyn std::error::Error>> {
    let on = if args.amqp.is_some() {
        "RabbitMQ"
    } else {
        "the in-memory transport"
    };
    match args.role {
        None => {
            println!(
                "mini-cloud on {on}: api, scheduler, volume host-1 (100 GB), host-2 (60 GB), billing"
            );
            let billing = Billing::default();
            let _billing = billing_listener(transport, &billing).await?;
            let _scheduler = scheduler(transport).await?;
            let _host1 = volume_host(transport, "host-1", 100).await?;
            let _host2 = volume_host(transport, "host-2", 60).await?;
            let created = api(transport, 2).await?;
            // Each created volume is billed at its start and its end.
            let billed =
                tokio::time::timeout(Duration::from_secs(5), billing.wait_for(2 * created));
            if billed.await.is_err() {
                line("billing", "did not hear every event within 5 s");
            }
            keep_serving_for_scrapes(args.metrics).await;
        }
        Some(Role::Api) => {
            api(transport, args.hosts).await?;
            keep_serving_for_scrapes(args.metrics).await;
        }
        Some(Role::Billing) => {
            let _billing = billing_listener(transport, &Billing::default()).await?;
            let stop = rpc_runtime::shutdown_signal();
            line("billing", "listening; Ctrl-C or SIGTERM stops");
            stop.cancelled().await;
        }
        Some(Role::Scheduler) => serve_forever(scheduler(transport).await?).await,
        Some(Role::Volume) => {
            serve_forever(volume_host(transport, &args.host, args.capacity_gb).await?).await;
        }
    }
    Ok(())
}

/// With `--metrics`, waits for Ctrl-C or SIGTERM so the endpoint can be
/// scraped after the scenario.
async fn keep_serving_for_scrapes(metrics: Option<std::net::SocketAddr>) {
    if metrics.is_some() {
        let stop = rpc_runtime::shutdown_signal();
        line("metrics", "scenario done; serving until Ctrl-C or SIGTERM");
        stop.cancelled().await;
    }
}

async fn scheduler(transport: &Transport) -> Result<Server, RpcError> {
    Server::builder(transport, "scheduler-1")
        .serve(SchedulerManagerService::new(Scheduler::default()))
        .start()
        .await
}

async fn volume_host(
    transport: &Transport,
    host: &str,
    capacity_gb: u32,
) -> Result<Server, RpcError> {
    let manager = VolumeHost::new(host, capacity_gb, transport);
    Server::builder(transport, host)
        .serve(VolumeManagerService::new(manager))
        .start()
        .await
}

async fn billing_listener(
    transport: &Transport,
    billing: &Billing,
) -> Result<NotificationListener, RpcError> {
    let billing = billing.clone();
    // No pool: billing consumes the default queue the notifiers declare
    // (`notifications.info`), so nothing piles up there; only `info`, so
    // it declares no queue of another priority, which nobody would read.
    NotificationListener::builder(transport)
        .priorities([Priority::Info])
        .event_types(["volume.create.*"])
        .concurrency(1)
        .start(move |notification| {
            let billing = billing.clone();
            async move { billing.handle(notification).await }
        })
        .await
}

async fn serve_forever(server: Server) {
    // Listening before saying so: a SIGTERM sent on seeing the line stops
    // the server instead of killing the process.
    let stop = rpc_runtime::shutdown_signal();
    line(server.name(), "serving; Ctrl-C or SIGTERM stops");
    stop.cancelled().await;
    server.shutdown().await;
}

/// How long the api waits for the effect of a cast.
const EFFECT: Duration = Duration::from_secs(10);

/// Polls `check` until it holds, for at most [`EFFECT`].
async fn wait_until<F, Fut>(what: &str, mut check: F) -> Result<(), Box<dyn std::error::Error>>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<bool, RpcError>>,
{
    let deadline = Instant::now() + EFFECT;
    while !check().await? {
        if Instant::now() > deadline {
            return Err(format!("{what} did not happen within {EFFECT:?}").into());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}

/// The free space the scheduler knows, per host.
async fn free_space(
    scheduler: &SchedulerManagerClient,
    ctx: &Context,
) -> Result<Vec<(String, u32)>, RpcError> {
    let hosts = scheduler.hosts(ctx).await?;
    Ok(hosts.into_iter().map(|h| (h.host, h.free_gb)).collect())
}

/// The api: learn the hosts, place four volumes (waiting for each to
/// exist), list them, delete them and wait for the hosts to report their
/// space back, so that every run prints the same. Returns how many
/// volumes it created.
async fn api(
    transport: &Transport,
    expect_hosts: usize,
) -> Result<usize, Box<dyn std::error::Error>> {
    let scheduler = SchedulerManagerClient::new(transport).timeout(Duration::from_secs(5));
    let volume = VolumeManagerClient::new(transport).timeout(Duration::from_secs(5));
    let ctx = Context::new()
        .with_user_id("demo")
        .with_project_id("demo-project");

    let started = Instant::now();
    volume.fanout().refresh_capabilities(&ctx).await?;
    line(
        "api",
        format!(
            "-> volume (fanout) refresh_capabilities    cast {}",
            ms(started.elapsed())
        ),
    );
    // The hosts report with this request's context: wait for those reports
    // (the scheduler may still know the hosts from an earlier run).
    let asked = ctx.request_id().to_owned();
    wait_until("the volume hosts' reports to the scheduler", || async {
        Ok(scheduler.reported(&ctx, asked.clone()).await?.len() >= expect_hosts)
    })
    .await?;
    let before = free_space(&scheduler, &ctx).await?;

    let mut created = Vec::new();
    for (id, (name, size_gb)) in [("db", 40), ("logs", 30), ("backup", 50), ("huge", 500)]
        .into_iter()
        .enumerate()
    {
        let started = Instant::now();
        let host = match scheduler.select_host(&ctx, size_gb).await {
            Ok(host) => host,
            Err(error) => {
                line(
                    "api",
                    format!("-> scheduler select_host({size_gb} GB)       error: {error}"),
                );
                continue;
            }
        };
        line(
            "api",
            format!(
                "-> scheduler select_host({size_gb} GB) = {host}   call {}",
                ms(started.elapsed())
            ),
        );
        let started = Instant::now();
        let volume_id = id as u64 + 1;
        let on_host = volume.to_server(host.as_str());
        on_host
            .create_volume(&ctx, volume_id, name.into(), size_gb)
            .await?;
        line(
            "api",
            format!(
                "-> volume.{host} create_volume `{name}`   cast {}",
                ms(started.elapsed())
            ),
        );
        wait_until("a volume's creation", || async {
            let volumes = on_host.list_volumes(&ctx).await?;
            Ok(volumes.iter().any(|v| v.id == volume_id))
        })
        .await?;
        created.push((host, volume_id));
    }

    // Each host streams its volumes: no reply grows with their number.
    for (host, _) in &before {
        let mut volumes = volume.to_server(host.as_str()).stream_volumes(&ctx).await;
        let mut names = Vec::new();
        while let Some(volume) = volumes.next().await {
            let volume = volume?;
            names.push(format!("{} ({} GB)", volume.name, volume.size_gb));
        }
        line(
            "api",
            format!("-> volume.{host} stream_volumes = [{}]", names.join(", ")),
        );
    }

    for (host, volume_id) in &created {
        let on_host = volume.to_server(host.as_str());
        on_host.delete_volume(&ctx, *volume_id).await?;
        line(
            "api",
            format!("-> volume.{host} delete_volume #{volume_id}"),
        );
        wait_until("a volume's deletion", || async {
            let volumes = on_host.list_volumes(&ctx).await?;
            Ok(!volumes.iter().any(|v| v.id == *volume_id))
        })
        .await?;
    }
    volume.fanout().refresh_capabilities(&ctx).await?;
    wait_until("the hosts' reports of their space", || async {
        Ok(free_space(&scheduler, &ctx).await? == before)
    })
    .await?;
    let free: Vec<String> = before
        .iter()
        .map(|(host, free_gb)| format!("{host} {free_gb} GB"))
        .collect();
    line(
        "api",
        format!(
            "-> volume (fanout) refresh_capabilities = {}",
            free.join(", ")
        ),
    );
    Ok(created.len())
}
