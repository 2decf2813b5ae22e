//! The examples' logs, metrics and traces.
//!
//! Logs: the runtime's `tracing` events on stderr, filtered by `--log` or
//! else `RUST_LOG` (e.g. `rpc_runtime=debug`), warnings and errors by
//! default. Metrics (`--metrics ADDR`): a Prometheus exporter serving
//! `http://ADDR/metrics`. Traces (`--otlp URL`): the runtime's spans sent
//! to an OpenTelemetry collector over OTLP/HTTP (e.g.
//! `http://127.0.0.1:4318/v1/traces`, Jaeger's and Tempo's default).

use std::io::IsTerminal as _;
use std::net::{SocketAddr, TcpStream, ToSocketAddrs as _};
use std::time::Duration;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig as _;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{EnvFilter, Layer as _};

/// What an example reports besides its output.
#[derive(Debug, Default)]
pub struct Options<'a> {
    /// Log filter directives (`--log`); else `RUST_LOG`, else `warn`.
    pub log: Option<&'a str>,
    /// Where to serve Prometheus metrics.
    pub metrics: Option<SocketAddr>,
    /// Where to send traces (an OTLP/HTTP traces URL).
    pub otlp: Option<&'a str>,
    /// The service name traces carry.
    pub service: &'a str,
}

/// Keeps the trace exporter alive; [`Telemetry::shutdown`] flushes it.
#[derive(Debug)]
pub struct Telemetry {
    tracer: Option<SdkTracerProvider>,
}

impl Telemetry {
    /// Sends the spans still buffered.
    pub fn shutdown(self) {
        if let Some(Err(error)) = self.tracer.map(|provider| provider.shutdown()) {
            eprintln!("could not flush the traces: {error}");
        }
    }
}

/// Starts printing logs; `filter` (from `--log`) wins over `RUST_LOG`.
///
/// ```
/// examples::logging::init(Some("rpc_runtime=debug"));
/// tracing::debug!("shown");
/// ```
pub fn init(filter: Option<&str>) {
    let _ = start(Options {
        log: filter,
        ..Options::default()
    });
}

/// Starts logs, and metrics and traces as `options` ask.
pub fn start(options: Options<'_>) -> Result<Telemetry, String> {
    let filter = match options.log {
        Some(directives) => EnvFilter::new(directives),
        None => EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn")),
    };
    // Colours only on a terminal: a log file or a journal gets plain text.
    let colour = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let logs = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(colour)
        .with_filter(filter);
    let (traces, tracer) = match options.otlp {
        Some(endpoint) => {
            collector_address(endpoint)?;
            let exporter = opentelemetry_otlp::SpanExporter::builder()
                .with_http()
                .with_endpoint(endpoint)
                .build()
                .map_err(|e| format!("--otlp {endpoint}: {e}"))?;
            let provider = SdkTracerProvider::builder()
                .with_batch_exporter(exporter)
                .with_resource(
                    Resource::builder()
                        .with_service_name(options.service.to_owned())
                        .build(),
                )
                .build();
            let layer = tracing_opentelemetry::layer()
                .with_tracer(provider.tracer("rpc-runtime"))
                .with_filter(EnvFilter::new("rpc_runtime=info"));
            (Some(layer), Some(provider))
        }
        None => (None, None),
    };
    // A second call (tests, doctests) keeps the first subscriber.
    let _ = tracing_subscriber::registry()
        .with(logs)
        .with(traces)
        .try_init();
    if let Some(endpoint) = options.otlp {
        warn_without_collector(endpoint);
    }
    if let Some(addr) = options.metrics {
        metrics_exporter_prometheus::PrometheusBuilder::new()
            .with_http_listener(addr)
            .set_buckets(&[
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                10.0,
            ])
            .map_err(|e| format!("--metrics: {e}"))?
            .install()
            .map_err(|e| format!("--metrics {addr}: {e}"))?;
        rpc_runtime::telemetry::describe_metrics();
    }
    Ok(Telemetry { tracer })
}

/// The collector's `host:port` in an OTLP/HTTP URL; what is wrong with the
/// URL otherwise.
fn collector_address(endpoint: &str) -> Result<String, String> {
    let example = "e.g. http://127.0.0.1:4318/v1/traces";
    let url = url::Url::parse(endpoint).map_err(|e| {
        format!("--otlp {endpoint}: not a URL ({e}); give an http(s) URL, {example}")
    })?;
    let (Some(host), Some(port), "http" | "https") =
        (url.host_str(), url.port_or_known_default(), url.scheme())
    else {
        return Err(format!(
            "--otlp {endpoint}: give an http(s) URL with a host, {example}"
        ));
    };
    Ok(format!("{host}:{port}"))
}

/// Warns, from a thread of its own (a connect may wait on DNS or the
/// network), when no collector accepts connections at `endpoint`: its spans
/// would be dropped, and the exporter says nothing.
fn warn_without_collector(endpoint: &str) {
    let Ok(address) = collector_address(endpoint) else {
        return;
    };
    let endpoint = endpoint.to_owned();
    std::thread::spawn(move || {
        let reached = address.to_socket_addrs().map(|mut all| {
            all.any(|addr| TcpStream::connect_timeout(&addr, Duration::from_secs(2)).is_ok())
        });
        if !matches!(reached, Ok(true)) {
            tracing::warn!(
                "--otlp {endpoint}: no collector accepts connections at {address}; spans will be dropped"
            );
        }
    });
}
