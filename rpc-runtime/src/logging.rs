//! Seeing the runtime's logs in your own binary.
//!
//! The runtime logs through [`tracing`]: nothing is printed until the
//! program installs a subscriber. [`init`] installs one that prints to
//! stderr, filtered by `RUST_LOG` (e.g. `RUST_LOG=rpc_runtime=debug`;
//! warnings and errors when it is not set), in colour only on a terminal
//! (and never with `NO_COLOR` set). A program with a subscriber of its own
//! (`tracing_subscriber::fmt().init()`, an OpenTelemetry layer) needs
//! none of this; the `logging` feature (on by default) can then be turned
//! off.
//!
//! ```
//! rpc_runtime::logging::init();
//! tracing::warn!("shown on stderr");
//! ```

use std::io::IsTerminal as _;

use tracing_subscriber::EnvFilter;

/// Prints the runtime's logs (and the program's) on stderr, as `RUST_LOG`
/// says, else warnings and errors. Returns false (and changes nothing)
/// when a subscriber was installed already.
pub fn init() -> bool {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn"));
    let colour = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(colour)
        .try_init()
        .is_ok()
}
