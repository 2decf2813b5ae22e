//! The examples' logs: the runtime's `tracing` events on stderr, filtered
//! by `--log` or else `RUST_LOG` (e.g. `rpc_runtime=debug`), warnings and
//! errors by default.

use tracing_subscriber::EnvFilter;

/// Starts printing logs; `filter` (from `--log`) wins over `RUST_LOG`.
///
/// ```
/// examples::logging::init(Some("rpc_runtime=debug"));
/// tracing::debug!("shown");
/// ```
pub fn init(filter: Option<&str>) {
    let filter = match filter {
        Some(directives) => EnvFilter::new(directives),
        None => EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn")),
    };
    // A second call (tests, doctests) keeps the first subscriber.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
