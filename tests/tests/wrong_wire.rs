//! A request in the other wire format than its server speaks is answered at
//! once, in the caller's own format, with an error naming the setting to
//! change (the Python side of this is in `oslo_dropin.rs`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use rpc_runtime::transport::MemoryBroker;
use rpc_runtime::wire::Wire;
use rpc_runtime::{Context, RpcError, Server};
use rpc_tests::oslo::{RustStorage, StorageClient, StorageService};

async fn mismatch(server_wire: Wire, client_wire: Wire) -> (RpcError, Duration) {
    let broker = MemoryBroker::new();
    let _server = Server::builder(&broker.connect_with_wire("x", server_wire), "s1")
        .serve(StorageService::from_arc(Arc::new(RustStorage::new("s1"))))
        .start()
        .await
        .expect("start");
    let client = StorageClient::new(&broker.connect_with_wire("x", client_wire))
        .timeout(Duration::from_secs(10));
    let started = Instant::now();
    let error = client
        .add(&Context::new(), 1, 2)
        .await
        .expect_err("refused");
    (error, started.elapsed())
}

#[tokio::test]
async fn an_oslo_caller_of_a_native_server_is_told_which_setting_to_change() {
    let (error, took) = mismatch(Wire::Native, Wire::Oslo).await;
    assert!(
        matches!(&error, RpcError::WrongWire { received, served, .. } if received == "oslo" && served == "native"),
        "{error:?}"
    );
    let text = error.to_string();
    assert!(
        text.contains("the sender's transport `wire=native`"),
        "{text}"
    );
    assert!(text.contains("the receiver's `wire=oslo`"), "{text}");
    assert!(took < Duration::from_secs(1), "{took:?}");
}

#[tokio::test]
async fn a_native_caller_of_an_oslo_server_is_told_which_setting_to_change() {
    let (error, took) = mismatch(Wire::Oslo, Wire::Native).await;
    assert!(
        matches!(&error, RpcError::WrongWire { received, served, .. } if received == "native" && served == "oslo"),
        "{error:?}"
    );
    let text = error.to_string();
    assert!(
        text.contains("the sender's transport `wire=oslo`"),
        "{text}"
    );
    assert!(text.contains("the receiver's `wire=native`"), "{text}");
    assert!(took < Duration::from_secs(1), "{took:?}");
}
