//! `rpcctl`: ask a live deployment who serves a topic, what its methods
//! are, and whether a method answers right now.
//!
//! ```text
//! rpcctl --url amqp://guest:guest@127.0.0.1:5672/%2f ping volume
//! rpcctl describe volume [--server host-1]
//! rpcctl call volume list_volumes '{}' [--server host-1] [--timeout 5s]
//! rpcctl cast volume refresh_capabilities '{}' [--server host-1 | --fanout]
//! rpcctl topology volume
//! ```
//!
//! Exit codes: 0 success; 1 the method answered with an error; 2 a usage
//! mistake (unknown method, bad argument names, not JSON); 3 the deployment
//! could not be reached (no server on the topic, timeout, connection).

mod output;
mod request;
mod topology;

use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use rpc_runtime::{AmqpConfig, RpcError, Transport};

/// See and call a running deployment.
#[derive(Debug, Parser)]
#[command(name = "rpcctl", version, about)]
struct Cli {
    /// The broker; also read from RPCCTL_URL.
    #[arg(
        long,
        env = "RPCCTL_URL",
        default_value = "amqp://guest:guest@127.0.0.1:5672/%2f"
    )]
    url: String,
    /// The control exchange (oslo's control_exchange).
    #[arg(long, default_value = "openstack")]
    exchange: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Lists the live servers of a topic (a fanout ping).
    Ping {
        topic: String,
        /// How long to gather answers.
        #[arg(long, default_value = "1s", value_parser = parse_duration)]
        window: Duration,
    },
    /// Prints a topic's methods as signatures.
    Describe {
        topic: String,
        #[arg(long)]
        server: Option<String>,
        #[arg(long, default_value = "5s", value_parser = parse_duration)]
        timeout: Duration,
    },
    /// Calls a method with JSON arguments and prints the JSON reply.
    Call {
        topic: String,
        method: String,
        /// The arguments as a JSON object, e.g. '{"name": "db", "size_gb": 10}'.
        #[arg(default_value = "{}")]
        args: String,
        #[arg(long)]
        server: Option<String>,
        #[arg(long, default_value = "5s", value_parser = parse_duration)]
        timeout: Duration,
    },
    /// Casts a method with JSON arguments (confirmed by the broker).
    Cast {
        topic: String,
        method: String,
        #[arg(default_value = "{}")]
        args: String,
        #[arg(long, conflicts_with = "fanout")]
        server: Option<String>,
        /// To every server of the topic.
        #[arg(long)]
        fanout: bool,
        #[arg(long, default_value = "5s", value_parser = parse_duration)]
        timeout: Duration,
    },
    /// Shows the exchanges and queues of a topic, with message and consumer counts.
    Topology {
        topic: String,
        #[arg(long, default_value = "1s", value_parser = parse_duration)]
        window: Duration,
    },
}

/// Why rpcctl failed, and with which exit code.
#[derive(Debug)]
pub(crate) enum Failure {
    /// The method answered with an error (exit 1).
    Answered(String),
    /// A usage mistake (exit 2).
    Usage(String),
    /// The deployment could not be reached (exit 3).
    Unreachable(String),
}

impl From<RpcError> for Failure {
    fn from(error: RpcError) -> Self {
        match error {
            RpcError::Undeliverable { .. }
            | RpcError::Timeout { .. }
            | RpcError::Connection(_)
            | RpcError::Refused { .. }
            | RpcError::Closed
            | RpcError::Overloaded { .. }
            | RpcError::Unresponsive { .. } => Failure::Unreachable(error.to_string()),
            RpcError::Config(_)
            | RpcError::Encode { .. }
            | RpcError::VersionCap { .. }
            | RpcError::WrongWire { .. } => Failure::Usage(error.to_string()),
            other => Failure::Answered(other.to_string()),
        }
    }
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    let (number, unit) = text
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .map_or((text, "s"), |at| text.split_at(at));
    let value: f64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a duration like 5s or 500ms"))?;
    let seconds = match unit {
        "ms" => value / 1000.0,
        "s" => value,
        "m" => value * 60.0,
        _ => return Err(format!("`{text}`: use ms, s or m")),
    };
    Duration::try_from_secs_f64(seconds).map_err(|e| e.to_string())
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = run(cli).await;
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            let (code, message) = match failure {
                Failure::Answered(m) => (1, m),
                Failure::Usage(m) => (2, m),
                Failure::Unreachable(m) => (3, m),
            };
            eprintln!("rpcctl: {message}");
            ExitCode::from(code)
        }
    }
}

async fn run(cli: Cli) -> Result<(), Failure> {
    let config = AmqpConfig::from_url(&cli.url).map_err(|e| Failure::Usage(e.to_string()))?;
    let config = config.control_exchange(&cli.exchange);
    let transport: Transport = config.clone().connect().await?;
    let result = match cli.command {
        Command::Ping { topic, window } => request::ping(&transport, &topic, window).await,
        Command::Describe {
            topic,
            server,
            timeout,
        } => request::describe(&transport, &topic, server.as_deref(), timeout).await,
        Command::Call {
            topic,
            method,
            args,
            server,
            timeout,
        } => {
            request::call(
                &transport,
                &topic,
                &method,
                &args,
                server.as_deref(),
                timeout,
            )
            .await
        }
        Command::Cast {
            topic,
            method,
            args,
            server,
            fanout,
            timeout,
        } => {
            let target = request::Target {
                server: server.as_deref(),
                fanout,
            };
            request::cast(&transport, &topic, &method, &args, target, timeout).await
        }
        Command::Topology { topic, window } => {
            topology::show(&config, &transport, &topic, window).await
        }
    };
    transport.close().await;
    result
}
