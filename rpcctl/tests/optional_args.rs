//! `rpcctl call` may leave out an `Option` argument (processes, real
//! broker, both wires): the server reads it as `None`, rpcctl exits 0 and
//! prints the answer. Leaving out any other argument is still refused
//! before sending (exit 2, `missing argument`), and the message lists which
//! arguments are optional.

use rpc_runtime::wire::Wire;
use rpc_runtime::{Context, Server, rpc_service};
use rpc_tests::{Env, Kind};
use support::{rpcctl, stderr, stdout};

mod support;

/// Serves a kennel whose `adopt` takes an optional species. The trait is
/// local to this function so that `cargo xtask gen-docs`, which documents
/// the workspace's top-level services, does not take this fixture for one.
async fn serve_kennel(env: &Env) -> Server {
    #[rpc_service(topic = "kennel", version = "1.0")]
    trait Kennel {
        /// `"<name> <species as Debug>"`: what the server read.
        async fn adopt(&self, ctx: &Context, name: String, species: Option<String>) -> String;
    }

    struct Shelter;

    impl Kennel for Shelter {
        async fn adopt(&self, _ctx: &Context, name: String, species: Option<String>) -> String {
            format!("{name} {species:?}")
        }
    }

    env.builder("kennel-1")
        .await
        .serve_on(&env.topic, KennelService::new(Shelter))
        .start()
        .await
        .expect("start the kennel")
}

async fn left_out_on(wire: Wire) {
    let Some(env) = Env::speaking(Kind::Amqp, wire).await else {
        return;
    };
    let _server = serve_kennel(&env).await;
    for (args, read) in [
        (r#"{"name": "rex"}"#, r#""rex None""#),
        (r#"{"name": "rex", "species": null}"#, r#""rex None""#),
        (
            r#"{"name": "rex", "species": "dog"}"#,
            r#""rex Some(\"dog\")""#,
        ),
    ] {
        let call = rpcctl(&env, &["call", &env.topic, "adopt", args]).await;
        assert_eq!(
            call.status.code(),
            Some(0),
            "{wire:?} {args}: {}",
            stderr(&call)
        );
        assert_eq!(stdout(&call).trim(), read, "{wire:?} {args}");
    }
    let refused = rpcctl(
        &env,
        &["call", &env.topic, "adopt", r#"{"species": "dog"}"#],
    )
    .await;
    assert_eq!(refused.status.code(), Some(2), "{}", stderr(&refused));
    assert_eq!(
        stderr(&refused).trim(),
        "rpcctl: missing argument `name`: `adopt` takes name, species (optional)",
        "{wire:?}"
    );
    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn call_leaves_out_an_option_on_the_native_wire() {
    left_out_on(Wire::Native).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn call_leaves_out_an_option_on_the_oslo_wire() {
    left_out_on(Wire::Oslo).await;
}
