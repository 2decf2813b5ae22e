//! Stopping on the signals service managers send: SIGTERM (systemd,
//! Kubernetes, `docker stop`) as well as SIGINT (Ctrl-C).

use tokio_util::sync::CancellationToken;

/// A token cancelled when the process receives SIGTERM or SIGINT (Ctrl-C;
/// on platforms without SIGTERM, Ctrl-C alone). Give it to
/// [`ServerBuilder::stop_on`](crate::ServerBuilder::stop_on) and wait:
/// the server stops taking requests and answers the ones in flight; or
/// await [`CancellationToken::cancelled`] before stopping anything else.
///
/// Call it inside a Tokio runtime: it spawns the task that waits. The
/// signals are listened for from the moment it returns (a signal sent
/// earlier ends the process as it would without it).
///
/// ```no_run
/// use rpc_runtime::{Server, Transport};
/// # async fn demo(transport: Transport, service: impl rpc_runtime::Service) -> Result<(), rpc_runtime::RpcError> {
/// let server = Server::builder(&transport, "host-1")
///     .serve(service)
///     .stop_on(rpc_runtime::shutdown_signal())
///     .start()
///     .await?;
/// server.wait().await; // returns after SIGTERM, once the requests in flight are answered
/// # Ok(()) }
/// ```
pub fn shutdown_signal() -> CancellationToken {
    let token = CancellationToken::new();
    let cancel = token.clone();
    // Listening starts here, not when the task first runs: a service that
    // says it serves once this returned must not die of a SIGTERM sent on
    // seeing that.
    let received = received();
    tokio::spawn(async move {
        let name = received.await;
        tracing::info!(signal = name, "stopping");
        cancel.cancel();
    });
    token
}

/// Starts listening for the stop signals; the future returned waits for
/// the first and returns its name.
#[cfg(unix)]
fn received() -> impl std::future::Future<Output = &'static str> + Send {
    use tokio::signal::unix::{SignalKind, signal};
    let term = signal(SignalKind::terminate());
    let int = signal(SignalKind::interrupt());
    async move {
        match (term, int) {
            (Ok(mut term), Ok(mut int)) => tokio::select! {
                _ = term.recv() => "SIGTERM",
                _ = int.recv() => "SIGINT",
            },
            (Err(error), _) => {
                tracing::warn!(%error, "cannot listen for SIGTERM; only Ctrl-C stops");
                ctrl_c().await
            }
            (Ok(mut term), Err(_)) => {
                let _ = term.recv().await;
                "SIGTERM"
            }
        }
    }
}

#[cfg(not(unix))]
fn received() -> impl std::future::Future<Output = &'static str> + Send {
    ctrl_c()
}

async fn ctrl_c() -> &'static str {
    match tokio::signal::ctrl_c().await {
        Ok(()) => "SIGINT",
        Err(error) => {
            tracing::warn!(%error, "cannot listen for Ctrl-C either; only an explicit shutdown stops");
            std::future::pending().await
        }
    }
}
