//! Cases (m) and (n) of the fault matrix: what the broker refuses.
//!
//! (m) Least-privilege users, one per role, with the permissions the
//! README documents: serving and calling work; a user missing one
//! permission gets [`RpcError::PermissionDenied`] within 1 s, naming the
//! resource, instead of a connection error that looks retryable.
//!
//! (n) A message over the broker's `max_message_size` (1 MiB here; the
//! transports accept 4 MiB): it alone is refused, with
//! [`RpcError::TooLarge`]; the calls and casts around it are not touched;
//! once the broker said its limit, the next one is refused before it is
//! sent.

use std::sync::Arc;
use std::time::Duration;

use rpc_runtime::{AmqpConfig, Context, RpcError, Server};
use tokio::time::Instant;

use super::outcome::Outcome;
use super::{Load, Rig};
use crate::cluster::Cluster;
use crate::oslo::{RustStorage, Storage, StorageClient, StorageService};

/// How soon a refusal must be reported.
const PROMPTLY: Duration = Duration::from_secs(1);

/// The permissions (configure, write, read) of the README's roles, for
/// control exchange `exchange` and topic `topic`.
pub fn role_permissions(role: &str, exchange: &str, topic: &str) -> [String; 3] {
    let (x, t) = (regex_escape(exchange), regex_escape(topic));
    match role {
        "server" => [
            format!("^({x}|{t}|{t}\\..*|{t}_fanout.*)$"),
            format!("^(amq\\.default|{t}|{t}\\..*|{t}_fanout_.*)$"),
            format!("^({x}|{t}|{t}\\..*|{t}_fanout.*)$"),
        ],
        _ => [
            format!("^({x}|reply_.*)$"),
            format!("^({x}|{t}_fanout)$"),
            "^reply_.*$".to_owned(),
        ],
    }
}

fn regex_escape(name: &str) -> String {
    name.chars()
        .flat_map(|c| match c {
            '.' | '-' | '*' | '+' | '?' | '(' | ')' | '[' | ']' | '^' | '$' | '|' => {
                vec!['\\', c]
            }
            c => vec![c],
        })
        .collect()
}

/// A user of the cluster with permissions on vhost `/` (removed by
/// [`User::delete`]).
struct User {
    name: String,
}

impl User {
    async fn create(cluster: &Cluster, name: &str, [configure, write, read]: [String; 3]) -> Self {
        cluster.ctl(1, &["delete_user", name]).await;
        cluster.ctl(1, &["add_user", name, "secret"]).await;
        cluster
            .ctl(
                1,
                &[
                    "set_permissions",
                    "-p",
                    "/",
                    name,
                    &configure,
                    &write,
                    &read,
                ],
            )
            .await;
        Self {
            name: name.to_owned(),
        }
    }

    fn url(&self) -> String {
        let hosts = "127.0.0.1:5681,127.0.0.1:5682,127.0.0.1:5683";
        format!("amqp://{}:secret@{hosts}/%2f", self.name)
    }

    async fn delete(self, cluster: &Cluster) {
        cluster.ctl(1, &["delete_user", &self.name]).await;
    }
}

/// Case (m).
pub async fn permissions(cluster: &Cluster) -> Outcome {
    let mut outcome = Outcome::new("(m) least-privilege users, one per role; and too little");
    let id = uuid::Uuid::new_v4().simple().to_string();
    let (exchange, topic) = (format!("rpc-perm-{}", &id[..8]), format!("m-{}", &id[..8]));
    let server_user = User::create(
        cluster,
        "rpc-server",
        role_permissions("server", &exchange, &topic),
    )
    .await;
    let client_user = User::create(
        cluster,
        "rpc-client",
        role_permissions("client", &exchange, &topic),
    )
    .await;
    let [configure, _, read] = role_permissions("client", &exchange, &topic);
    let mute = User::create(
        cluster,
        "rpc-client-no-write",
        [configure, "^$".into(), read],
    )
    .await;
    let [configure, write, _] = role_permissions("server", &exchange, &topic);
    let deaf = User::create(
        cluster,
        "rpc-server-no-read",
        [configure, write, "^$".into()],
    )
    .await;
    let connect = |user: &User| {
        AmqpConfig::from_url(&user.url())
            .expect("URL")
            .control_exchange(&exchange)
            .connect()
    };

    // The roles' own permissions are enough.
    let served = async {
        let server_transport = connect(&server_user).await?;
        let storage = Arc::new(RustStorage::new("s1"));
        let server = Server::builder(&server_transport, "s1")
            .serve_on(&topic, StorageService::from_arc(Arc::clone(&storage)))
            .start()
            .await?;
        let client_transport = connect(&client_user).await?;
        let client = StorageClient::new(&client_transport).topic(&topic);
        let ctx = Context::new();
        let sum = client.add(&ctx, 2, 3).await?;
        client.record(&ctx, "cast".into()).await?;
        client.fanout().record(&ctx, "fanout".into()).await?;
        client.to_server("s1").record(&ctx, "direct".into()).await?;
        // The three casts went to three queues: they are handled in no
        // order relative to the call that reads them.
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut notes = client.notes(&ctx).await?;
        while notes.len() < 3 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
            notes = client.notes(&ctx).await?;
        }
        server.shutdown().await;
        client_transport.close().await;
        server_transport.close().await;
        Ok::<_, RpcError>((sum, notes.len()))
    };
    let served = served.await;
    outcome.expect(matches!(served, Ok((5, 3))), || {
        format!("serving and calling with the roles' permissions: {served:?}")
    });

    // Too little: a caller that may not publish to the exchange.
    let started = Instant::now();
    let denied = match connect(&mute).await {
        Ok(transport) => {
            let client = StorageClient::new(&transport).topic(&topic);
            let denied = client.add(&Context::new(), 1, 1).await;
            transport.close().await;
            denied.map(|_| ())
        }
        Err(error) => Err(error),
    };
    let mute_took = started.elapsed();
    check_denied(
        &mut outcome,
        "a caller without write",
        denied,
        &format!("exchange '{exchange}'"),
        "write",
        mute_took,
    );

    // A server that may not read (consume) its queues.
    let started = Instant::now();
    let denied = match connect(&deaf).await {
        Ok(transport) => {
            let storage = StorageService::new(RustStorage::new("s2"));
            let server = Server::builder(&transport, "s2")
                .serve_on(&topic, storage)
                .start()
                .await;
            let denied = server.map(|_| ());
            transport.close().await;
            denied
        }
        Err(error) => Err(error),
    };
    let deaf_took = started.elapsed();
    // Binding its queues to the exchange is what needs read first.
    let exchange_named = format!("exchange '{exchange}'");
    check_denied(
        &mut outcome,
        "a server without read",
        denied,
        &exchange_named,
        "read",
        deaf_took,
    );
    outcome.saw = format!(
        "roles serve and call ({}); without write: denied in {:.2} s; without read: denied in {:.2} s",
        if served_ok(&outcome) {
            "call, cast, fanout, to a server"
        } else {
            "failed"
        },
        mute_took.as_secs_f64(),
        deaf_took.as_secs_f64()
    );
    for queue in [topic.clone(), format!("{topic}.s1"), format!("{topic}.s2")] {
        cluster.ctl(1, &["delete_queue", &queue]).await;
    }
    cluster.ctl(1, &["delete_exchange", &exchange]).await;
    for user in [server_user, client_user, mute, deaf] {
        user.delete(cluster).await;
    }
    outcome
}

fn served_ok(outcome: &Outcome) -> bool {
    !outcome.problems.iter().any(|p| p.starts_with("serving"))
}

/// Checks that `result` is a prompt [`RpcError::PermissionDenied`] of
/// `permission` on a resource starting with `resource`.
fn check_denied(
    outcome: &mut Outcome,
    who: &str,
    result: Result<(), RpcError>,
    resource: &str,
    permission: &str,
    took: Duration,
) {
    match &result {
        Err(RpcError::PermissionDenied {
            resource: named,
            permission: needed,
            ..
        }) if named.starts_with(resource) && needed == permission => {}
        other => outcome.problems.push(format!(
            "{who}: expected {permission} denied on {resource}…, got {other:?}"
        )),
    }
    outcome.expect(took <= PROMPTLY, || format!("{who}: told after {took:?}"));
}

/// Case (n).
pub async fn oversized(cluster: &Cluster) -> Outcome {
    let mut outcome = Outcome::new("(n) a message over the broker's max_message_size (1 MiB)");
    let limit = cluster.set_env("max_message_size", "1048576").await;
    let rig = Rig::configured(cluster, ([1, 2, 3], [2, 3, 1]), 10, |c| {
        c.max_message_size(4 * 1024 * 1024)
    })
    .await;
    let load = Load::start(&rig.client);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let big = "x".repeat(2 * 1024 * 1024);
    let ctx = Context::new();
    let started = Instant::now();
    let first = rig.client.record(&ctx, big.clone()).await;
    let first_took = started.elapsed();
    let started = Instant::now();
    let second = rig.client.record(&ctx, big).await;
    let second_took = started.elapsed();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (calls, casts) = load.stop().await;
    let too_large = |r: &Result<(), RpcError>| {
        matches!(
            r,
            Err(RpcError::TooLarge {
                limit: 1_048_576,
                ..
            })
        )
    };
    outcome.expect(too_large(&first), || {
        format!("the oversized cast: {first:?}")
    });
    outcome.expect(too_large(&second), || {
        format!("the next oversized cast: {second:?}")
    });
    outcome.expect(second_took < Duration::from_millis(100), || {
        format!("the next oversized cast was refused only after {second_took:?}")
    });
    let failed = calls
        .iter()
        .chain(&casts)
        .filter(|s| s.failed.is_some())
        .count();
    outcome.expect(failed == 0, || {
        let errors: Vec<_> = calls
            .iter()
            .chain(&casts)
            .filter_map(|s| s.error.clone())
            .collect();
        format!("{failed} other calls and casts failed: {errors:?}")
    });
    let notes = rig.storage.notes(&Context::new()).await;
    let confirmed = casts.iter().filter(|c| c.failed.is_none()).count();
    let handled = casts
        .iter()
        .filter(|c| c.note.as_ref().is_some_and(|n| notes.contains(n)))
        .count();
    outcome.expect(handled == confirmed, || {
        format!("{handled} of {confirmed} confirmed casts handled")
    });
    outcome.saw = format!(
        "refused in {:.3} s, the next in {:.3} s (before sending); around them {} calls and {} casts, {failed} failed",
        first_took.as_secs_f64(),
        second_took.as_secs_f64(),
        calls.len(),
        casts.len()
    );
    rig.cleanup(cluster, 2).await;
    cluster.restore_env("max_message_size", &limit).await;
    outcome
}
