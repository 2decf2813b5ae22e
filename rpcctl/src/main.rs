//! `rpcctl`: ask a live deployment who serves a topic, what its methods
//! are, and whether a method answers right now.
//!
//! ```text
//! rpcctl --url amqp://guest:guest@127.0.0.1:5672/%2f ping volume
//! rpcctl describe volume [--server host-1]
//! rpcctl call volume list_volumes '{}' [--server host-1] [--timeout 5s]
//! rpcctl cast volume refresh_capabilities '{}' [--server host-1 | --fanout] [--check | --no-check]
//! rpcctl topology volume
//! rpcctl top volume
//! rpcctl completions bash > /etc/bash_completion.d/rpcctl
//! ```
//!
//! Every command takes `--json`. Exit codes: see [`EXIT_CODES`].

mod asked;
mod call;
mod cast;
mod failure;
mod output;
mod request;
mod top;
mod topology;

use std::process::ExitCode;
use std::time::Duration;

use clap::{CommandFactory, Parser, Subcommand};
use rpc_runtime::transport::amqp::OsloConfig;
use rpc_runtime::{AmqpConfig, Transport};

use crate::failure::Failure;
use crate::output::Output;

/// What each exit code means (also in `--help`).
const EXIT_CODES: &str = "Exit codes:
  0  success
  1  the method answered with an error
  2  a usage mistake: unknown method, wrong arguments, not JSON, a bad URL or duration
  3  no answer: no server listens there, the broker refused the message, or none answered in time
  4  the broker cannot be reached (down, refused the connection, unknown host)
  5  the broker refused the user name or password
  6  the broker has no such vhost, or the user may not use it
  7  the servers speak the other wire format (`wire=oslo` / `wire=native`)
  8  the broker denies the user a permission (configure, write or read) it needs";

/// See and call a running deployment.
#[derive(Debug, Parser)]
#[command(name = "rpcctl", version, about, after_help = EXIT_CODES)]
struct Cli {
    /// The broker: `amqp://user:pass@host:5672/vhost`, `amqps://...`, or
    /// oslo's `rabbit://...` (which speaks oslo's wire).
    #[arg(
        long,
        env = "RPCCTL_URL",
        default_value = "amqp://guest:guest@127.0.0.1:5672/%2f",
        hide_env_values = true
    )]
    url: String,
    /// An oslo.config file (nova.conf) to take the broker from, as the
    /// service reads it: `[DEFAULT] transport_url` and `control_exchange`,
    /// `[oslo_messaging_rabbit]` options. Instead of `--url`.
    #[arg(long, conflicts_with = "url")]
    config_file: Option<std::path::PathBuf>,
    /// The control exchange the topics live on (oslo's `control_exchange`;
    /// default: the config file's or the URL's, else `openstack`).
    #[arg(long)]
    exchange: Option<String>,
    /// Print JSON on stdout (one document), errors included.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Lists the live servers of a topic (a fanout ping their managers never see).
    Ping {
        /// The topic, e.g. `volume`.
        #[arg(value_parser = parse_topic)]
        topic: String,
        /// How long to gather answers (e.g. 500ms, 2s).
        #[arg(long, default_value = "1s", value_parser = parse_duration)]
        window: Duration,
    },
    /// Prints a topic's methods as signatures, with their doc comments.
    Describe {
        /// The topic, e.g. `volume`.
        #[arg(value_parser = parse_topic)]
        topic: String,
        /// Ask this server (`topic.server`) instead of any server of the topic.
        #[arg(long, value_parser = parse_server)]
        server: Option<String>,
        /// How long to wait for the answer.
        #[arg(long, default_value = "5s", value_parser = parse_duration)]
        timeout: Duration,
    },
    /// Calls a method with JSON arguments and prints the JSON reply.
    Call {
        /// The topic, e.g. `volume`.
        #[arg(value_parser = parse_topic)]
        topic: String,
        /// The method, e.g. `list_volumes`.
        method: String,
        /// The arguments as a JSON object, e.g. '{"name": "db", "size_gb": 10}'.
        #[arg(default_value = "{}")]
        args: String,
        /// Call this server (`topic.server`) instead of any server of the topic.
        #[arg(long, value_parser = parse_server)]
        server: Option<String>,
        /// How long to wait for the reply.
        #[arg(long, default_value = "5s", value_parser = parse_duration)]
        timeout: Duration,
    },
    /// Casts a method with JSON arguments; returns once the broker confirmed it.
    ///
    /// When a server consumes the queue, it is asked to describe the method
    /// first: a method or argument it does not have is refused before
    /// anything is sent, and the version the method needs is sent. With no
    /// server consuming, the cast is sent as given (for `--version`) to wait
    /// in the queue, and rpcctl says it went unchecked.
    Cast {
        /// The topic, e.g. `volume`.
        #[arg(value_parser = parse_topic)]
        topic: String,
        /// The method, e.g. `delete_volume`.
        method: String,
        /// The arguments as a JSON object, e.g. '{"volume_id": 7}'.
        #[arg(default_value = "{}")]
        args: String,
        /// Cast to this server (`topic.server`) only.
        #[arg(long, value_parser = parse_server, conflicts_with = "fanout")]
        server: Option<String>,
        /// Cast to every server of the topic.
        #[arg(long)]
        fanout: bool,
        /// Fail unless a server describes the method (instead of sending it
        /// unchecked when nobody consumes).
        #[arg(long, conflicts_with = "no_check")]
        check: bool,
        /// Send as given, without asking a server to describe the method.
        #[arg(long)]
        no_check: bool,
        /// The API version an unchecked cast asks for.
        #[arg(long, default_value = "1.0")]
        version: String,
        /// The namespace an unchecked cast names, for services declared
        /// with one.
        #[arg(long)]
        namespace: Option<String>,
        /// How long to wait for the broker's confirm (and, with `--check`,
        /// for the description).
        #[arg(long, default_value = "5s", value_parser = parse_duration)]
        timeout: Duration,
    },
    /// Shows a topic's exchanges and queues with message and consumer counts.
    ///
    /// Reads RabbitMQ's management API when it answers (every queue of the
    /// topic, left-over server queues included), else passive declares
    /// (the topic queue and the queues of servers that answer a ping).
    Topology {
        /// The topic, e.g. `volume`.
        #[arg(value_parser = parse_topic)]
        topic: String,
        /// How long to gather ping answers.
        #[arg(long, default_value = "1s", value_parser = parse_duration)]
        window: Duration,
        /// The management API (default: the broker's host, port 15672,
        /// the URL's credentials).
        #[arg(long)]
        management: Option<String>,
    },
    /// A live view of a topic's servers: per method, requests and errors per
    /// second, p50 and p99 over the last interval, and requests in flight.
    ///
    /// From ping answers, so nothing else must run; Ctrl-C stops. With
    /// `--json`, one JSON document per refresh.
    Top {
        /// The topic, e.g. `volume`.
        #[arg(value_parser = parse_topic)]
        topic: String,
        /// How often to refresh.
        #[arg(long, default_value = "1s", value_parser = parse_duration)]
        interval: Duration,
        /// Stop after this many refreshes (default: until Ctrl-C).
        #[arg(long)]
        count: Option<u32>,
    },
    /// Prints a shell completion script.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

/// The longest timeout or window accepted (Tokio's timers do not go far
/// past this, and no deployment waits longer).
const MAX_DURATION: Duration = Duration::from_secs(24 * 3600);

/// A topic name the broker accepts (checked before anything is sent).
fn parse_topic(text: &str) -> Result<String, String> {
    rpc_runtime::topology::check_name("topic", text).map_err(config_text)?;
    Ok(text.to_owned())
}

/// A server name the broker accepts.
fn parse_server(text: &str) -> Result<String, String> {
    rpc_runtime::topology::check_name("server", text).map_err(config_text)?;
    Ok(text.to_owned())
}

/// What a configuration mistake says, without the variant's prefix.
fn config_text(error: rpc_runtime::RpcError) -> String {
    match error {
        rpc_runtime::RpcError::Config(text) => text,
        other => other.to_string(),
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
        "h" => value * 3600.0,
        _ => return Err(format!("`{text}`: use ms, s, m or h")),
    };
    let duration = Duration::try_from_secs_f64(seconds).map_err(|e| e.to_string())?;
    if duration < Duration::from_millis(1) || duration > MAX_DURATION {
        return Err(format!("`{text}`: give between 1ms and 24h"));
    }
    Ok(duration)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        // Under `--json` a usage mistake is JSON too; help and version print as usual.
        Err(error) if error.use_stderr() && std::env::args().any(|a| a == "--json") => {
            let message = error.kind().to_string();
            let detail = error.to_string();
            let first = detail.lines().next().unwrap_or(&message);
            let first = first.strip_prefix("error: ").unwrap_or(first).to_owned();
            let failure = Failure::Usage(first);
            Output::new(true).failure(&failure);
            return ExitCode::from(failure.code());
        }
        Err(error) => error.exit(),
    };
    let out = Output::new(cli.json);
    match run(cli, out).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            out.failure(&failure);
            ExitCode::from(failure.code())
        }
    }
}

async fn run(cli: Cli, out: Output) -> Result<(), Failure> {
    if let Command::Completions { shell } = cli.command {
        clap_complete::generate(shell, &mut Cli::command(), "rpcctl", &mut std::io::stdout());
        return Ok(());
    }
    let config = match &cli.config_file {
        Some(path) => {
            let conf = OsloConfig::read(path).map_err(|e| Failure::Usage(e.to_string()))?;
            for option in conf.ignored() {
                eprintln!("rpcctl: {option} in {} is not used", path.display());
            }
            conf.into_amqp()
        }
        None => AmqpConfig::from_url(&cli.url).map_err(|e| Failure::Usage(e.to_string()))?,
    };
    let config = match &cli.exchange {
        Some(exchange) => config.control_exchange(exchange),
        None => config,
    };
    let transport: Transport = config.clone().connect().await?;
    let result = match cli.command {
        Command::Ping { topic, window } => request::ping(&transport, out, &topic, window).await,
        Command::Describe {
            topic,
            server,
            timeout,
        } => request::describe(&transport, out, &topic, server.as_deref(), timeout).await,
        Command::Call {
            topic,
            method,
            args,
            server,
            timeout,
        } => {
            let to = request::Target {
                topic: &topic,
                server: server.as_deref(),
                fanout: false,
            };
            call::call(&transport, out, to, &method, &args, timeout).await
        }
        Command::Cast {
            topic,
            method,
            args,
            server,
            fanout,
            check,
            no_check,
            version,
            namespace,
            timeout,
        } => {
            let to = request::Target {
                topic: &topic,
                server: server.as_deref(),
                fanout,
            };
            let check = match (check, no_check) {
                (true, _) => cast::Check::Always,
                (_, true) => cast::Check::Never,
                _ => cast::Check::IfServed,
            };
            let given = cast::AsGiven {
                version: &version,
                namespace: namespace.as_deref(),
            };
            cast::cast(&transport, out, to, &method, &args, check, given, timeout).await
        }
        Command::Topology {
            topic,
            window,
            management,
        } => topology::show(&config, &transport, out, &topic, window, management).await,
        Command::Top {
            topic,
            interval,
            count,
        } => top::show(&transport, out, &topic, interval, count).await,
        Command::Completions { .. } => Ok(()),
    };
    transport.close().await;
    result
}
