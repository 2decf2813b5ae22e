//! The test helpers service authors use: a client wired straight to a
//! manager, and a recording transport.

use std::sync::Arc;

use rpc_runtime::testing::{self, Sent};
use rpc_runtime::{Context, Destination, RpcError};
use rpc_tests::volume::{
    Event, Log, Recorder, VolumeError, VolumeManagerClient, VolumeManagerService,
};

#[tokio::test]
async fn a_client_wired_straight_to_a_manager() {
    let log = Arc::new(Log::default());
    let client = VolumeManagerClient::new(&testing::local(VolumeManagerService::new(
        Recorder::new("here", &log),
    )));
    let ctx = Context::new();
    let volume = client
        .create_volume(&ctx, "db".into(), 10)
        .await
        .expect("call");
    assert_eq!((volume.name.as_str(), volume.host.as_str()), ("db", "here"));
    assert!(matches!(
        client.create_volume(&ctx, "big".into(), 500).await,
        Err(VolumeError::NoSpace { requested: 500, .. })
    ));
    assert!(matches!(
        client.boom(&ctx).await,
        Err(RpcError::Internal { .. })
    ));
    client
        .to_server("anywhere")
        .delete_volume(&ctx, 3)
        .await
        .expect("cast");
    // A local cast has run by the time it returns.
    assert!(
        log.events()
            .iter()
            .any(|(_, e)| matches!(e, Event::Deleted { id: 3, .. }))
    );
}

/// A caller under test: retires a volume on its host, then tells everyone.
async fn retire(
    client: &VolumeManagerClient,
    ctx: &Context,
    host: &str,
    id: u64,
) -> Result<(), RpcError> {
    client.to_server(host).delete_volume(ctx, id).await?;
    client.fanout().delete_volume(ctx, id).await
}

#[tokio::test]
async fn a_recording_transport_shows_what_a_caller_sent() {
    let log = Arc::new(Log::default());
    let (transport, sent) = testing::record(testing::local(VolumeManagerService::new(
        Recorder::new("here", &log),
    )));
    let client = VolumeManagerClient::new(&transport);
    let ctx = Context::new().with_user_id("alice");
    retire(&client, &ctx, "host-2", 42).await.expect("retire");

    let requests = sent.requests();
    assert_eq!(requests.len(), 2);
    let first = &requests[0];
    assert_eq!(first.kind, Sent::Cast);
    assert_eq!(first.method, "delete_volume");
    assert_eq!(
        first.destination,
        Destination::Server {
            topic: "volume".into(),
            server: "host-2".into()
        }
    );
    assert_eq!(first.args::<(u64,)>().expect("args"), (42,));
    assert_eq!(first.context.request_id(), ctx.request_id());
    assert_eq!(first.context.user_id(), Some("alice"));
    assert_eq!(
        requests[1].destination,
        Destination::Fanout {
            topic: "volume".into()
        }
    );

    sent.clear();
    client.get_volume(&ctx, 5).await.expect("call");
    let requests = sent.requests();
    assert_eq!(
        (requests[0].kind, requests[0].method.as_str()),
        (Sent::Call, "get_volume")
    );
}

/// The local transport handles a request as a server does: a streaming
/// method streams (with its credit), a failing cast's error is the
/// server's.
#[tokio::test]
async fn a_local_client_streams_as_a_server_would() {
    use rpc_tests::conformance::{StreamError, StreamerClient, StreamerService, Streams};
    let client = StreamerClient::new(&testing::local(StreamerService::new(Streams::default())));
    let ctx = Context::new();
    // More items than the initial credit: the client's grants reach the
    // local handler.
    let n = u64::from(rpc_runtime::stream::INITIAL_CREDIT) * 3;
    let mut items = client.count(&ctx, n).await;
    let mut next = 0;
    while let Some(item) = items.next().await {
        assert_eq!(item, Ok(next));
        next += 1;
    }
    assert_eq!(next, n, "every item, then the end");
    let mut failing = client.fail_after(&ctx, 2).await;
    assert_eq!(failing.next().await, Some(Ok(0)));
    assert_eq!(failing.next().await, Some(Ok(1)));
    assert_eq!(
        failing.next().await,
        Some(Err(StreamError::GaveUp { after: 2 }))
    );
    assert_eq!(failing.next().await, None);
}
