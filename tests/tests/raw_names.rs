//! Method and argument names written as raw identifiers (`r#type`) travel
//! under their plain names, on both wire formats; and every name the
//! generated code or the runtime uses itself is reserved.

use rpc_runtime::transport::MemoryBroker;
use rpc_runtime::wire::Wire;
use rpc_runtime::{Context, Server, rpc_service};

#[rpc_service(topic = "raw")]
pub trait Raw {
    /// A call named after a keyword.
    async fn r#type(&self, ctx: &Context, r#in: u32) -> u32;
    /// A cast named after a keyword.
    #[rpc(cast)]
    async fn r#match(&self, ctx: &Context, r#ref: String);
}

struct Keywords(tokio::sync::mpsc::UnboundedSender<String>);

impl Raw for Keywords {
    async fn r#type(&self, _ctx: &Context, r#in: u32) -> u32 {
        r#in * 2
    }

    async fn r#match(&self, _ctx: &Context, r#ref: String) {
        let _ = self.0.send(r#ref);
    }
}

#[tokio::test]
async fn raw_identifiers_work_end_to_end_on_both_wires() {
    let descriptor = RawClient::descriptor();
    let names: Vec<&str> = descriptor.methods.iter().map(|m| m.name).collect();
    assert_eq!(names, ["type", "match"]);
    assert_eq!(descriptor.methods[0].args[0].name, "in");
    assert_eq!(descriptor.methods[1].args[0].name, "ref");
    for wire in [Wire::Native, Wire::Oslo] {
        let broker = MemoryBroker::new();
        let (casts, mut cast) = tokio::sync::mpsc::unbounded_channel();
        let _server = Server::builder(&broker.connect_with_wire("raw", wire), "s1")
            .serve(RawService::new(Keywords(casts)))
            .start()
            .await
            .expect("start");
        let client = RawClient::new(&broker.connect_with_wire("raw", wire));
        let ctx = Context::new();
        assert_eq!(client.r#type(&ctx, 21).await, Ok(42), "{wire:?}");
        client.r#match(&ctx, "x".into()).await.expect("cast");
        assert_eq!(cast.recv().await.as_deref(), Some("x"), "{wire:?}");
    }
}

#[test]
fn the_servers_own_methods_are_reserved() {
    for builtin in [
        rpc_runtime::builtin::PING,
        rpc_runtime::builtin::DESCRIBE,
        rpc_runtime::stream::STREAM_CREDIT,
        rpc_runtime::stream::STREAM_CANCEL,
    ] {
        assert!(
            rpc_model::RESERVED_METHOD_NAMES.contains(&builtin),
            "{builtin}"
        );
    }
}

#[test]
fn the_readme_lists_every_reserved_name() {
    let readme = include_str!("../../README.md");
    let list = readme
        .split_once("**Reserved names**")
        .and_then(|(_, rest)| rest.split_once("\n- "))
        .map(|(list, _)| list)
        .expect("the README's reserved names");
    for name in rpc_model::RESERVED_METHOD_NAMES {
        assert!(
            list.contains(&format!("`{name}`")),
            "`{name}` is not listed"
        );
    }
}
