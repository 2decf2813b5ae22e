//! The conformance suite on the in-memory transport, speaking
//! oslo.messaging's wire format.

rpc_tests::conformance_suite!(rpc_tests::Kind::Memory, rpc_runtime::wire::Wire::Oslo);

/// oslo.messaging's wire cannot carry a stream: a server refuses, at start,
/// to serve a streaming method on it, and says why.
#[tokio::test]
async fn a_streaming_service_is_refused_on_the_oslo_wire() {
    let transport = rpc_runtime::transport::MemoryBroker::new()
        .connect_with_wire("openstack", rpc_runtime::wire::Wire::Oslo);
    let refused = rpc_runtime::Server::builder(&transport, "host-1")
        .serve(rpc_tests::conformance::StreamerService::new(
            rpc_tests::conformance::Streams::default(),
        ))
        .start()
        .await;
    match refused {
        Err(rpc_runtime::RpcError::Config(why)) => {
            assert!(why.contains("`Streamer::count` streams its reply"), "{why}");
            assert!(why.contains("native wire"), "{why}");
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
}
