//! The conformance suite: behaviours every transport must show the same way.
//!
//! Each case is an `async fn(Arc<Env>)`; [`conformance_suite!`] turns the
//! whole list into `#[tokio::test]`s for one transport kind.

mod lifecycle;
mod malformed;
mod notify;
mod streams;

pub use lifecycle::*;
pub use malformed::*;
pub use notify::*;
pub use streams::*;

use std::sync::Arc;
use std::time::Duration;

use rpc_runtime::wire::Wire;
use rpc_runtime::{Awaited, Context, RpcError};
use tokio::task::JoinSet;

use crate::env::Env;
use crate::volume::{
    Event, Log, OldStorage, Recorder, StorageV30Client, StorageV30Service, StorageV32Client,
    Volume, VolumeError, VolumeManagerNextClient, VolumeManagerService,
};
use rpc_runtime::testing;

const WAIT: Duration = Duration::from_secs(10);

/// Generates one `#[tokio::test]` per conformance case for `$kind`
/// (speaking `$wire`, native by default).
#[macro_export]
macro_rules! conformance_suite {
    ($kind:expr) => {
        $crate::conformance_suite!($kind, ::rpc_runtime::wire::Wire::Native);
    };
    ($kind:expr, $wire:expr) => {
        $crate::conformance_suite!(@cases $kind, $wire,
            call_returns_the_typed_value,
            typed_error_arrives_as_its_type,
            framework_errors_are_distinct,
            a_panic_message_reaches_callers_only_when_shown,
            cast_arrives,
            to_server_reaches_only_that_server,
            topic_calls_are_spread_over_servers,
            fanout_reaches_every_server_once,
            timeout_fires_and_the_late_reply_is_harmless,
            thousand_concurrent_calls_get_their_own_answers,
            malformed_messages_do_not_stop_the_server,
            nobody_listening_fails_at_once,
            a_dropped_call_leaves_nothing_behind,
            a_server_runs_requests_concurrently,
            versions_follow_oslo_rules,
            stale_requests_are_not_run,
            one_server_hosts_several_services,
            a_long_call_lives_on_heartbeats,
            a_dead_server_is_noticed_by_the_call_monitor,
            the_context_travels_and_onward_calls_keep_it,
            fanout_works_after_every_server_restarted,
            shutdown_answers_the_requests_in_flight,
            a_stopped_server_leaves_no_queue_behind,
            a_full_transport_refuses_more_calls,
            a_cancellation_token_stops_the_server,
            notification_priorities_are_routed,
            pools_share_and_copy_notifications,
            event_type_filters_select_notifications,
            a_failing_handler_is_retried_then_given_up,
            notifications_wait_for_a_restarted_pool,
            a_notifier_refuses_a_payload_it_cannot_encode,
            an_unread_notification_queue_stays_bounded,
        );
    };
    (@cases $kind:expr, $wire:expr, $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                $crate::env::run($kind, $wire, $crate::conformance::$case).await;
            }
        )*
    };
}

fn volume(id: u64, name: &str, size_gb: u32, host: &str) -> Volume {
    Volume {
        id,
        name: name.to_owned(),
        size_gb,
        host: host.to_owned(),
    }
}

pub async fn call_returns_the_typed_value(env: Arc<Env>) {
    let log = Arc::new(Log::default());
    let _server = env.server("host-1", &log).await;
    let client = env.client(&env.transport().await);
    let ctx = Context::new();
    let created = client
        .create_volume(&ctx, "db".into(), 10)
        .await
        .expect("call");
    assert_eq!(created, volume(1, "db", 10, "host-1"));
    let found = client.get_volume(&ctx, 5).await.expect("call");
    assert_eq!(found, Some(volume(5, "vol-5", 1, "host-1")));
    assert_eq!(client.get_volume(&ctx, 5000).await.expect("call"), None);
}

/// What user code looks like: one `?` for the manager's and the framework's errors.
async fn create(
    client: &crate::volume::VolumeManagerClient,
    size: u32,
) -> Result<Volume, VolumeError> {
    let volume = client
        .create_volume(&Context::new(), "x".into(), size)
        .await?;
    Ok(volume)
}

pub async fn typed_error_arrives_as_its_type(env: Arc<Env>) {
    let log = Arc::new(Log::default());
    let _server = env.server("host-1", &log).await;
    let client = env.client(&env.transport().await);
    match create(&client, 500).await {
        Err(VolumeError::NoSpace { requested, host }) => {
            assert_eq!((requested, host.as_str()), (500, "host-1"));
        }
        other => panic!("expected NoSpace, got {other:?}"),
    }
    assert_eq!(create(&client, 5).await, Ok(volume(1, "x", 5, "host-1")));
}

pub async fn framework_errors_are_distinct(env: Arc<Env>) {
    let log = Arc::new(Log::default());
    let _server = env.server("host-1", &log).await;
    let transport = env.transport().await;
    let client = env.client(&transport);
    let newer = VolumeManagerNextClient::new(&transport)
        .topic(&env.topic)
        .timeout(WAIT);
    let ctx = Context::new();
    match newer.snapshot(&ctx, 1).await {
        Err(RpcError::UnknownMethod { method, topic }) => {
            assert_eq!(
                (method.as_str(), topic.as_str()),
                ("snapshot", env.topic.as_str())
            );
        }
        other => panic!("expected UnknownMethod, got {other:?}"),
    }
    match (env.wire, newer.get_volume(&ctx, "abc".into(), true).await) {
        (Some(Wire::Native) | None, Err(RpcError::BadRequest { method, .. })) => {
            assert_eq!(method, "get_volume");
        }
        // Arguments by name (JSON), checked as a Python server does.
        (Some(Wire::Oslo) | None, Err(RpcError::Remote { class, message, .. })) => {
            assert_eq!(class, "TypeError");
            assert!(message.contains("unexpected keyword argument"), "{message}");
        }
        other => panic!("expected a refusal of the arguments, got {other:?}"),
    }
    match client.boom(&ctx).await {
        Err(error @ RpcError::Internal { .. }) => {
            assert!(error.is_remote());
            // The panic's message stays in the server's log.
            assert!(!error.to_string().contains("blew up"), "{error}");
            assert!(error.to_string().contains("`boom`"), "{error}");
        }
        other => panic!("expected Internal, got {other:?}"),
    }
    match client.create_volume(&ctx, "x".into(), 1000).await {
        Err(VolumeError::Rpc(error)) => {
            panic!("a manager error came back as a framework error: {error}")
        }
        Err(VolumeError::NoSpace { .. }) => {}
        other => panic!("expected NoSpace, got {other:?}"),
    }
    assert_eq!(client.whoami(&ctx).await.expect("still serving"), "host-1");
}

pub async fn a_panic_message_reaches_callers_only_when_shown(env: Arc<Env>) {
    let log = Arc::new(Log::default());
    let _server = env
        .server_with("host-1", &log, |builder| builder.show_panics(true))
        .await;
    let client = env.client(&env.transport().await);
    match client.boom(&Context::new()).await {
        Err(error @ RpcError::Internal { .. }) => {
            assert!(error.to_string().contains("the manager blew up"), "{error}");
        }
        other => panic!("expected Internal, got {other:?}"),
    }
}

pub async fn cast_arrives(env: Arc<Env>) {
    let log = Arc::new(Log::default());
    let _server = env.server("host-1", &log).await;
    let client = env.client(&env.transport().await);
    let ctx = Context::new();
    client
        .delete_volume(&ctx, 42)
        .await
        .expect("cast confirmed");
    let request_id = ctx.request_id().to_owned();
    log.wait_for(WAIT, |events| {
        events.iter().any(|(host, event)| {
            host == "host-1"
                && *event
                    == Event::Deleted {
                        id: 42,
                        request_id: request_id.clone(),
                    }
        })
    })
    .await;
}

pub async fn to_server_reaches_only_that_server(env: Arc<Env>) {
    let log = Arc::new(Log::default());
    let _one = env.server("host-1", &log).await;
    let _two = env.server("host-2", &log).await;
    let client = env.client(&env.transport().await);
    let ctx = Context::new();
    for _ in 0..10 {
        let host = client.to_server("host-2").whoami(&ctx).await.expect("call");
        assert_eq!(host, "host-2");
    }
    for id in 0..10 {
        client
            .to_server("host-1")
            .delete_volume(&ctx, id)
            .await
            .expect("cast");
    }
    let deletes_on = |events: &[(String, Event)], host: &str| {
        events
            .iter()
            .filter(|(h, e)| h == host && matches!(e, Event::Deleted { .. }))
            .count()
    };
    log.wait_for(WAIT, |events| deletes_on(events, "host-1") == 10)
        .await;
    assert_eq!(deletes_on(&log.events(), "host-2"), 0);
}

pub async fn topic_calls_are_spread_over_servers(env: Arc<Env>) {
    let log = Arc::new(Log::default());
    let _one = env.server("host-1", &log).await;
    let _two = env.server("host-2", &log).await;
    let client = env.client(&env.transport().await);
    let ctx = Context::new();
    let mut served = std::collections::BTreeMap::<String, usize>::new();
    for _ in 0..20 {
        let host = client.whoami(&ctx).await.expect("call");
        *served.entry(host).or_default() += 1;
    }
    assert_eq!(
        served.len(),
        2,
        "every server should get some calls: {served:?}"
    );
    assert_eq!(served.values().sum::<usize>(), 20);
}

pub async fn fanout_reaches_every_server_once(env: Arc<Env>) {
    let log = Arc::new(Log::default());
    // One request at a time, so each server handles its queue in order.
    let mut servers = Vec::new();
    for host in ["host-1", "host-2", "host-3"] {
        let recorder = VolumeManagerService::new(Recorder::new(host, &log));
        let builder = env.builder(host).await.concurrency(1);
        servers.push(
            builder
                .serve_on(&env.topic, recorder)
                .start()
                .await
                .expect("start"),
        );
    }
    let client = env.client(&env.transport().await);
    let ctx = Context::new();
    let count = |events: &[(String, Event)], id: u64, host: &str| {
        events
            .iter()
            .filter(|(h, e)| h == host && matches!(e, Event::Deleted { id: i, .. } if *i == id))
            .count()
    };
    client
        .fanout()
        .delete_volume(&ctx, 7)
        .await
        .expect("fanout cast");
    // A second fanout behind the first: once a server handled it, it handled
    // the first and any duplicate of it (its queue is FIFO, its handling serial).
    client
        .fanout()
        .delete_volume(&ctx, 8)
        .await
        .expect("fanout cast");
    let hosts = ["host-1", "host-2", "host-3"];
    log.wait_for(WAIT, |events| {
        hosts.iter().all(|h| count(events, 8, h) == 1)
    })
    .await;
    let events = log.events();
    for host in hosts {
        assert_eq!(count(&events, 7, host), 1, "{host}: {events:?}");
    }
}

pub async fn timeout_fires_and_the_late_reply_is_harmless(env: Arc<Env>) {
    let log = Arc::new(Log::default());
    let _server = env.server("host-1", &log).await;
    let transport = env.transport().await;
    let client = env.client(&transport);
    let ctx = Context::new();
    let quick = client.timeout(Duration::from_millis(300));
    match quick.slow_echo(&ctx, 1, 1500).await {
        Err(error @ RpcError::Timeout { .. }) => {
            let RpcError::Timeout {
                method,
                destination,
                timeout,
                awaited,
            } = &error
            else {
                unreachable!()
            };
            assert_eq!(
                (method.as_str(), *timeout, *awaited),
                ("slow_echo", Duration::from_millis(300), Awaited::Reply)
            );
            assert_eq!(destination, &env.topic, "{error}");
            assert!(
                error.to_string().contains("no reply to `slow_echo`"),
                "{error}"
            );
        }
        other => panic!("expected a timeout, got {other:?}"),
    }
    assert_eq!(transport.pending_calls(), 0);
    // The manager finishes and replies late; the reply must not be taken
    // for the next call's.
    log.wait_for(WAIT, |events| {
        events.contains(&("host-1".into(), Event::Echoed { n: 1 }))
    })
    .await;
    assert_eq!(client.slow_echo(&ctx, 2, 0).await.expect("call"), 2);
    assert_eq!(transport.pending_calls(), 0);
}

pub async fn thousand_concurrent_calls_get_their_own_answers(env: Arc<Env>) {
    let log = Arc::new(Log::default());
    let _server = env.server("host-1", &log).await;
    let transport = env.transport().await;
    let client = env.client(&transport).timeout(Duration::from_secs(60));
    let mut calls = JoinSet::new();
    for n in 0..1000u64 {
        let client = client.clone();
        calls.spawn(async move { (n, client.slow_echo(&Context::new(), n, 0).await) });
    }
    let mut answered = 0;
    while let Some(joined) = calls.join_next().await {
        let (n, result) = joined.expect("task");
        assert_eq!(result, Ok(n));
        answered += 1;
    }
    assert_eq!(answered, 1000);
    assert_eq!(transport.pending_calls(), 0);
}

pub async fn nobody_listening_fails_at_once(env: Arc<Env>) {
    let log = Arc::new(Log::default());
    let _server = env.server("host-1", &log).await;
    let client = env
        .client(&env.transport().await)
        .timeout(Duration::from_secs(30));
    let ctx = Context::new();
    // With a 30 s timeout, only an immediate refusal can produce this error.
    match client.to_server("host-9").whoami(&ctx).await {
        Err(RpcError::Undeliverable { destination }) => {
            assert_eq!(destination, format!("{}.host-9", env.topic));
        }
        other => panic!("expected Undeliverable, got {other:?}"),
    }
    match client.to_server("host-9").delete_volume(&ctx, 1).await {
        Err(RpcError::Undeliverable { .. }) => {}
        other => panic!("expected Undeliverable, got {other:?}"),
    }
}

pub async fn a_dropped_call_leaves_nothing_behind(env: Arc<Env>) {
    let log = Arc::new(Log::default());
    let _server = env.server("host-1", &log).await;
    let transport = env.transport().await;
    let client = env.client(&transport);
    let call = tokio::spawn(async move { client.slow_echo(&Context::new(), 1, 2000).await });
    // The request reached the server: the call is pending.
    log.wait_until_echoing(WAIT, 1).await;
    assert_eq!(transport.pending_calls(), 1);
    call.abort();
    assert!(call.await.expect_err("aborted").is_cancelled());
    assert_eq!(transport.pending_calls(), 0);
    // The reply still comes, finds nobody, and is dropped.
    log.wait_for(WAIT, |events| {
        events.contains(&("host-1".into(), Event::Echoed { n: 1 }))
    })
    .await;
    assert_eq!(transport.pending_calls(), 0);
}

pub async fn a_server_runs_requests_concurrently(env: Arc<Env>) {
    let log = Arc::new(Log::default());
    let _server = env.server("host-1", &log).await;
    let client = env
        .client(&env.transport().await)
        .timeout(Duration::from_secs(30));
    let mut calls = JoinSet::new();
    for _ in 0..16 {
        let client = client.clone();
        calls.spawn(async move { client.rendezvous(&Context::new(), 16).await });
    }
    while let Some(joined) = calls.join_next().await {
        assert_eq!(
            joined.expect("task"),
            Ok(true),
            "16 calls were never inside at once"
        );
    }
}

pub async fn versions_follow_oslo_rules(env: Arc<Env>) {
    let storage = Arc::new(OldStorage::default());
    let _server = env
        .builder("host-1")
        .await
        .serve_on(
            &env.topic,
            StorageV30Service::from_arc(Arc::clone(&storage)),
        )
        .start()
        .await
        .expect("start");
    let (transport, sent) = testing::record(env.transport().await);
    let ctx = Context::new();
    let client = StorageV32Client::new(&transport)
        .topic(&env.topic)
        .timeout(WAIT)
        .version_cap("3.2");
    assert!(client.can_send_version("3.1") && client.can_send_version("3.2"));
    assert!(!client.can_send_version("3.3") && !client.can_send_version("4.0"));
    // A 3.0 method of the 3.2 API is served by the 3.0 server.
    assert_eq!(client.size(&ctx, 4).await, Ok(40));
    match client.extend(&ctx, 4, 1).await {
        Err(RpcError::VersionNotSupported {
            requested, server, ..
        }) => {
            assert_eq!((requested.as_str(), server.as_str()), ("3.1", "3.0"));
        }
        other => panic!("expected VersionNotSupported, got {other:?}"),
    }
    // Capped at the oldest server's version, the client refuses before sending.
    let capped = client.version_cap("3.0");
    assert!(!capped.can_send_version("3.1"));
    sent.clear();
    match capped.extend(&ctx, 4, 1).await {
        Err(RpcError::VersionCap {
            method,
            required,
            cap,
        }) => {
            assert_eq!(
                (method.as_str(), required.as_str(), cap.as_str()),
                ("extend", "3.1", "3.0")
            );
        }
        other => panic!("expected VersionCap, got {other:?}"),
    }
    assert!(
        sent.requests().is_empty(),
        "nothing may be sent: {:?}",
        sent.requests()
    );
    assert_eq!(capped.size(&ctx, 2).await, Ok(20));
    assert_eq!(storage.handled.load(std::sync::atomic::Ordering::SeqCst), 2);
}

pub async fn stale_requests_are_not_run(env: Arc<Env>) {
    let log = Arc::new(Log::default());
    let _server = env.server_with("host-1", &log, |b| b.concurrency(1)).await;
    let client = env.client(&env.transport().await);
    let busy = {
        let client = client.clone();
        tokio::spawn(async move { client.slow_echo(&Context::new(), 0, 2000).await })
    };
    log.wait_until_echoing(WAIT, 0).await;
    let quick = client.timeout(Duration::from_millis(500));
    let mut stale = JoinSet::new();
    for n in 1..=5 {
        let quick = quick.clone();
        stale.spawn(async move { quick.slow_echo(&Context::new(), n, 0).await });
    }
    while let Some(result) = stale.join_next().await {
        assert!(matches!(
            result.expect("task"),
            Err(RpcError::Timeout { .. })
        ));
    }
    assert_eq!(busy.await.expect("task"), Ok(0));
    // Behind the stale requests in the queue: once this is answered, they
    // have all been skipped or expired.
    assert_eq!(
        client.whoami(&Context::new()).await.expect("call"),
        "host-1"
    );
    let ran: Vec<_> = log
        .events()
        .into_iter()
        .filter(|(_, e)| matches!(e, Event::Echoing { n } if *n > 0))
        .collect();
    assert!(ran.is_empty(), "stale requests ran: {ran:?}");
}

pub async fn one_server_hosts_several_services(env: Arc<Env>) {
    let log = Arc::new(Log::default());
    let storage = Arc::new(OldStorage::default());
    let storage_topic = env.extra_topic("storage");
    let _server = env
        .builder("host-1")
        .await
        .serve_on(
            &env.topic,
            VolumeManagerService::new(Recorder::new("host-1", &log)),
        )
        .serve_on(
            &storage_topic,
            StorageV30Service::from_arc(Arc::clone(&storage)),
        )
        .start()
        .await
        .expect("start");
    let transport = env.transport().await;
    let ctx = Context::new();
    assert_eq!(
        env.client(&transport).whoami(&ctx).await.expect("call"),
        "host-1"
    );
    let storage_client = StorageV30Client::new(&transport)
        .topic(&storage_topic)
        .timeout(WAIT);
    assert_eq!(storage_client.size(&ctx, 3).await, Ok(30));
    assert_eq!(
        storage_client.to_server("host-1").size(&ctx, 5).await,
        Ok(50)
    );
}

pub async fn a_long_call_lives_on_heartbeats(env: Arc<Env>) {
    let log = Arc::new(Log::default());
    let _server = env.server("host-1", &log).await;
    let client = env
        .client(&env.transport().await)
        .timeout(Duration::from_secs(30))
        .call_monitor(Duration::from_secs(1));
    // Five times the monitor's window: only heartbeats keep it alive.
    assert_eq!(client.slow_echo(&Context::new(), 5, 5000).await, Ok(5));
}

pub async fn a_dead_server_is_noticed_by_the_call_monitor(env: Arc<Env>) {
    let log = Arc::new(Log::default());
    let server_transport = env.transport().await;
    env.track_server("host-1");
    let server = rpc_runtime::Server::builder(&server_transport, "host-1")
        .serve_on(
            &env.topic,
            VolumeManagerService::new(Recorder::new("host-1", &log)),
        )
        .start()
        .await
        .expect("start");
    let client = env
        .client(&env.transport().await)
        .timeout(Duration::from_secs(30))
        .call_monitor(Duration::from_secs(1));
    let call = tokio::spawn(async move { client.slow_echo(&Context::new(), 9, 20_000).await });
    log.wait_until_echoing(WAIT, 9).await;
    // The server's connection dies mid-call.
    server_transport.close().await;
    drop(server);
    // With a 30 s timeout and a 20 s call, only the monitor can end it.
    match call.await.expect("task") {
        Err(RpcError::Unresponsive { method, silence }) => {
            assert_eq!(
                (method.as_str(), silence),
                ("slow_echo", Duration::from_secs(1))
            );
        }
        other => panic!("expected Unresponsive, got {other:?}"),
    }
}

pub async fn the_context_travels_and_onward_calls_keep_it(env: Arc<Env>) {
    let log = Arc::new(Log::default());
    let _last = env.server("host-2", &log).await;
    let onward = env.client(&env.transport().await);
    let relay = Recorder::new("host-1", &log).with_onward(onward);
    let _first = env
        .builder("host-1")
        .await
        .serve_on(&env.topic, VolumeManagerService::new(relay))
        .start()
        .await
        .expect("start");
    let client = env.client(&env.transport().await);
    let ctx = Context::new()
        .with_user_id("alice")
        .with_project_id("p1")
        .with_roles(["admin", "member"])
        .with_auth_token("s3cret")
        .with_value("zone", "az1")
        .with_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
    let seen = client
        .to_server("host-2")
        .context_seen(&ctx)
        .await
        .expect("call");
    assert_eq!(seen.request_id, ctx.request_id());
    assert_eq!(
        (seen.user_id.as_deref(), seen.project_id.as_deref()),
        (Some("alice"), Some("p1"))
    );
    assert_eq!(seen.roles, ["admin", "member"]);
    assert_eq!(seen.auth_token.as_deref(), Some("s3cret"));
    assert_eq!(seen.values.get("zone").map(String::as_str), Some("az1"));
    assert_eq!(
        seen.trace_id.as_deref(),
        Some("4bf92f3577b34da6a3ce929d0e0e4736")
    );
    assert_ne!(
        seen.parent_span_id.as_deref(),
        Some("00f067aa0ba902b7"),
        "each hop is a new span"
    );
    assert!(
        seen.remaining_ms.is_some_and(|ms| ms <= 10_000),
        "the deadline travels: {seen:?}"
    );

    // host-1 passes the context it received on to host-2.
    let relayed = client
        .to_server("host-1")
        .relay_context(&ctx, "host-2".into())
        .await
        .expect("relay");
    assert_eq!(relayed.request_id, ctx.request_id());
    assert_eq!(relayed.user_id.as_deref(), Some("alice"));
    assert_eq!(relayed.trace_id, seen.trace_id);
    assert_ne!(relayed.parent_span_id, seen.parent_span_id);
    // ... and the onward call's deadline is the caller's, not a fresh 10 s.
    assert!(
        relayed.remaining_ms.is_some_and(|ms| ms < 10_000),
        "{relayed:?}"
    );

    // A caller without a trace: each request starts its own at the server,
    // and an onward call continues it.
    let (first, second) = (
        client
            .to_server("host-2")
            .context_seen(&Context::new())
            .await,
        client
            .to_server("host-2")
            .context_seen(&Context::new())
            .await,
    );
    let (first, second) = (first.expect("call"), second.expect("call"));
    assert!(first.trace_id.is_some(), "{first:?}");
    assert_ne!(first.trace_id, second.trace_id);
    let relayed = client
        .to_server("host-1")
        .relay_context(&Context::new(), "host-2".into())
        .await
        .expect("relay");
    assert!(relayed.trace_id.is_some() && relayed.parent_span_id.is_some());
}

pub async fn fanout_works_after_every_server_restarted(env: Arc<Env>) {
    let log = Arc::new(Log::default());
    let server = env.server("host-1", &log).await;
    let client = env.client(&env.transport().await);
    let ctx = Context::new();
    let deleted = |id: u64| {
        move |events: &[(String, Event)]| {
            events
                .iter()
                .any(|(_, e)| matches!(e, Event::Deleted { id: i, .. } if *i == id))
        }
    };
    client
        .fanout()
        .delete_volume(&ctx, 1)
        .await
        .expect("fanout");
    log.wait_for(WAIT, deleted(1)).await;

    // The last server goes: its fanout queue, then the auto-delete fanout
    // exchange, disappear. A fanout cast now reaches nobody, and says so.
    server.shutdown().await;
    let nobody = async {
        loop {
            match client.fanout().delete_volume(&ctx, 2).await {
                Err(RpcError::Undeliverable { .. }) => return,
                Ok(()) => tokio::task::yield_now().await,
                Err(other) => panic!("expected Undeliverable, got {other:?}"),
            }
        }
    };
    tokio::time::timeout(WAIT, nobody)
        .await
        .expect("the fanout queue went away");

    // A server comes back: the same client's fanout casts reach it again.
    let _server = env.server("host-1", &log).await;
    client
        .fanout()
        .delete_volume(&ctx, 3)
        .await
        .expect("fanout");
    log.wait_for(WAIT, deleted(3)).await;
    assert_eq!(
        client.whoami(&ctx).await.expect("the client still works"),
        "host-1"
    );
}

pub async fn shutdown_answers_the_requests_in_flight(env: Arc<Env>) {
    let log = Arc::new(Log::default());
    let server = env.server("host-1", &log).await;
    let client = env.client(&env.transport().await);
    let mut calls = JoinSet::new();
    for n in 0..20u64 {
        let client = client.clone();
        calls.spawn(async move { (n, client.slow_echo(&Context::new(), n, 500).await) });
    }
    let started = |events: &[(String, Event)]| {
        events
            .iter()
            .filter(|(_, e)| matches!(e, Event::Echoing { .. }))
            .count()
            == 20
    };
    log.wait_for(WAIT, started).await;
    assert!(
        server.shutdown().await,
        "every request finished within the grace period"
    );
    while let Some(joined) = calls.join_next().await {
        let (n, result) = joined.expect("task");
        assert_eq!(result, Ok(n), "a caller lost its answer to the shutdown");
    }
    // And the server is gone: nobody consumes its queues any more.
    let quick = client.timeout(Duration::from_millis(300));
    assert!(matches!(
        quick.whoami(&Context::new()).await,
        Err(RpcError::Timeout { .. } | RpcError::Undeliverable { .. })
    ));
}

pub async fn a_full_transport_refuses_more_calls(env: Arc<Env>) {
    let log = Arc::new(Log::default());
    let _server = env.server("host-1", &log).await;
    let transport = env.transport().await.with_max_pending_calls(2);
    let client = env.client(&transport);
    let mut slow = JoinSet::new();
    for n in 0..2u64 {
        let client = client.clone();
        slow.spawn(async move { client.slow_echo(&Context::new(), n, 1000).await });
    }
    let full = async {
        while transport.pending_calls() < 2 {
            tokio::task::yield_now().await;
        }
    };
    tokio::time::timeout(WAIT, full)
        .await
        .expect("two calls in flight");
    match client.whoami(&Context::new()).await {
        Err(RpcError::Overloaded { limit }) => assert_eq!(limit, 2),
        other => panic!("expected Overloaded, got {other:?}"),
    }
    while let Some(joined) = slow.join_next().await {
        assert!(joined.expect("task").is_ok());
    }
    assert_eq!(
        client.whoami(&Context::new()).await.expect("room again"),
        "host-1"
    );
}

pub async fn a_cancellation_token_stops_the_server(env: Arc<Env>) {
    let log = Arc::new(Log::default());
    let token = rpc_runtime::CancellationToken::new();
    let server = env
        .server_with("host-1", &log, |b| b.stop_on(token.clone()))
        .await;
    let client = env.client(&env.transport().await);
    let call = {
        let client = client.clone();
        tokio::spawn(async move { client.slow_echo(&Context::new(), 3, 300).await })
    };
    log.wait_until_echoing(WAIT, 3).await;
    token.cancel(); // what a signal handler would do
    assert!(server.wait().await, "stopped within the grace period");
    assert_eq!(
        call.await.expect("task"),
        Ok(3),
        "the request in flight was answered"
    );
}
