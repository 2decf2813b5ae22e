//! A service and its caller configured by one nova.conf-style file, as
//! OpenStack services are: `[DEFAULT] transport_url` (a `rabbit://` URL,
//! so oslo's wire) and `control_exchange`, `[oslo_messaging_rabbit]`
//! options; an option the runtime does not apply is named. One caller is
//! Rust, the other the real oslo.messaging reading the same file.

use std::sync::Arc;

use rpc_runtime::transport::amqp::OsloConfig;
use rpc_runtime::wire::Wire;
use rpc_runtime::{Context, Server, Transport};
use rpc_tests::env::amqp_url;
use rpc_tests::python::Python;
use rpc_tests::volume::{Log, Recorder, VolumeManagerClient, VolumeManagerService};
use rpc_tests::{Env, Kind};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_and_its_caller_read_one_nova_conf() {
    let Some(env) = Env::speaking(Kind::Amqp, Wire::Oslo).await else {
        return;
    };
    let path = std::env::temp_dir().join(format!("{}.conf", env.topic));
    let url = amqp_url().replacen("amqp://", "rabbit://", 1);
    let text = format!(
        "[DEFAULT]\ntransport_url = {url}\ncontrol_exchange = {}\nmy_ip = 10.0.0.5\n\n\
         [oslo_messaging_rabbit]\nheartbeat_timeout_threshold = 30\nkombu_reconnect_delay = 1.0\n",
        env.exchange
    );
    std::fs::write(&path, text).expect("write the config file");

    let read = OsloConfig::read(&path).expect("read the config file");
    assert_eq!(
        read.ignored(),
        ["[oslo_messaging_rabbit] kombu_reconnect_delay"]
    );
    assert_eq!(read.amqp().exchange(), env.exchange, "control_exchange");
    let server_transport = Transport::from_oslo_config(&path).await.expect("connect");
    assert_eq!(server_transport.speaks(), Some(Wire::Oslo));
    let log = Arc::new(Log::default());
    env.track_server("host-1");
    let _server = Server::builder(&server_transport, "host-1")
        .serve_on(
            &env.topic,
            VolumeManagerService::new(Recorder::new("host-1", &log)),
        )
        .start()
        .await
        .expect("serve");
    let caller = Transport::from_oslo_config(&path).await.expect("connect");
    let client = VolumeManagerClient::new(&caller).topic(&env.topic);
    assert_eq!(
        client.whoami(&Context::new()).await,
        Ok("host-1".to_owned())
    );
    if let Some(python) = Python::find() {
        let whoami = json!([{"kind": "call", "method": "whoami"}]);
        let outcomes = python
            .client_configured_by(&path, &env.topic, &whoami)
            .await;
        assert_eq!(outcomes[0]["ok"], "host-1", "{outcomes:?}");
    }

    caller.close().await;
    server_transport.close().await;
    let _ = std::fs::remove_file(&path);
    env.cleanup().await;
}
