//! `rpcctl` run as a process against the mini-cloud's servers on RabbitMQ.

use examples::managers::{Scheduler, VolumeHost};
use examples::services::{SchedulerManagerService, VolumeManagerService};
use rpc_runtime::wire::Wire;
use std::sync::Arc;

use rpc_tests::oslo::{RustStorage, serve_storage};
use rpc_tests::{Env, Kind};
use support::{rpcctl, rpcctl_on, stderr, stdout};

mod support;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rpcctl_sees_and_calls_the_mini_cloud() {
    let Some(env) = Env::new(Kind::Amqp).await else {
        return;
    };
    let volume = env.topic.clone();
    let scheduler = env.extra_topic("scheduler");
    let mut servers = Vec::new();
    for (host, capacity) in [("host-1", 100), ("host-2", 60)] {
        let builder = env.builder(host).await;
        let manager = VolumeHost::new(host, capacity, &env.last_transport());
        servers.push(
            builder
                .serve_on(&volume, VolumeManagerService::new(manager))
                .start()
                .await
                .expect("start"),
        );
    }
    let builder = env.builder("scheduler-1").await;
    servers.push(
        builder
            .serve_on(
                &scheduler,
                SchedulerManagerService::new(Scheduler::default()),
            )
            .start()
            .await
            .expect("start"),
    );

    let ping = rpcctl(&env, &["ping", &volume]).await;
    assert!(ping.status.success(), "{}", stderr(&ping));
    let table = stdout(&ping);
    assert!(table.starts_with("SERVER"), "{table}");
    assert!(
        table.contains("host-1") && table.contains("host-2"),
        "{table}"
    );

    let describe = rpcctl(&env, &["describe", &volume]).await;
    assert!(describe.status.success(), "{}", stderr(&describe));
    let methods = stdout(&describe);
    assert!(
        methods.contains("cast create_volume(volume_id: u64, name: String, size_gb: u32)"),
        "{methods}"
    );
    assert!(
        methods.contains("call list_volumes() -> Vec<Volume>"),
        "{methods}"
    );

    let cast = rpcctl(
        &env,
        &[
            "cast",
            &scheduler,
            "update_capabilities",
            r#"{"host": "host-1", "free_gb": 50}"#,
        ],
    )
    .await;
    assert!(cast.status.success(), "{}", stderr(&cast));
    let call = rpcctl(
        &env,
        &["call", &scheduler, "select_host", r#"{"size_gb": 10}"#],
    )
    .await;
    assert!(call.status.success(), "{}", stderr(&call));
    assert_eq!(
        stdout(&call).trim(),
        r#""host-1""#,
        "compact JSON when piped"
    );
    let hosts = rpcctl(&env, &["call", &scheduler, "hosts"]).await;
    assert_eq!(stdout(&hosts).trim(), r#"[{"host":"host-1","free_gb":40}]"#);

    let refused = rpcctl(
        &env,
        &["call", &scheduler, "select_host", r#"{"size_gb": 500}"#],
    )
    .await;
    assert_eq!(refused.status.code(), Some(1), "{}", stderr(&refused));
    assert_eq!(
        stderr(&refused).trim(),
        "rpcctl: the method failed: no volume host has 500 GB free",
        "the error's message"
    );

    let bad = rpcctl(
        &env,
        &["call", &scheduler, "select_host", r#"{"size": 10}"#],
    )
    .await;
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        stderr(&bad).contains("unknown argument `size`"),
        "{}",
        stderr(&bad)
    );

    let nobody = rpcctl(&env, &["ping", &format!("{}-nobody", env.topic)]).await;
    assert_ne!(nobody.status.code(), Some(0));
    assert!(stderr(&nobody).contains("no server"), "{}", stderr(&nobody));

    drop(servers);
    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rpcctl_speaks_the_oslo_wire() {
    let Some(env) = Env::speaking(Kind::Amqp, Wire::Oslo).await else {
        return;
    };
    let _server = serve_storage(&env, "rs-1", Arc::new(RustStorage::new("rs-1"))).await;
    let ping = rpcctl(&env, &["ping", &env.topic]).await;
    assert!(ping.status.success(), "{}", stderr(&ping));
    assert!(stdout(&ping).contains("rs-1"), "{}", stdout(&ping));
    let add = rpcctl(&env, &["call", &env.topic, "add", r#"{"a": 2, "b": 40}"#]).await;
    assert!(add.status.success(), "{}", stderr(&add));
    assert_eq!(stdout(&add).trim(), "42");
    let fail = rpcctl(
        &env,
        &["call", &env.topic, "fail", r#"{"kind": "not_found"}"#],
    )
    .await;
    assert_eq!(fail.status.code(), Some(1), "{}", stderr(&fail));
    assert!(
        stderr(&fail).contains("the method failed: Volume 7 could not be found."),
        "{}",
        stderr(&fail)
    );
    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rpcctl_on_the_other_wire_says_which_setting_to_change() {
    let Some(env) = Env::speaking(Kind::Amqp, Wire::Oslo).await else {
        return;
    };
    let _server = serve_storage(&env, "rs-1", Arc::new(RustStorage::new("rs-1"))).await;
    for args in [
        vec!["ping", env.topic.as_str()],
        vec!["call", env.topic.as_str(), "add", r#"{"a": 2, "b": 40}"#],
    ] {
        let refused = rpcctl_on(&env, Wire::Native, &args).await;
        let text = stderr(&refused);
        assert_eq!(refused.status.code(), Some(7), "{args:?}: {text}");
        assert_eq!(text.lines().count(), 1, "{args:?}: {text}");
        assert!(
            text.contains("the sender's transport `wire=oslo`"),
            "{args:?}: {text}"
        );
    }
    env.cleanup().await;
}
