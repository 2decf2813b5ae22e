//! Generated code names everything by absolute path: it compiles inside a
//! module without the prelude, beside user items that shadow common names.

mod no_prelude {
    #![no_implicit_prelude]
    #![allow(dead_code, unreachable_pub)]

    use ::rpc_runtime::{Context, rpc_service};

    // Shadows for names generated code must not use unqualified.
    pub struct Ok;
    pub struct Err;
    pub struct Some;
    pub struct None;
    pub struct Box;
    pub struct Arc;
    pub struct String;
    pub type Result = ();
    pub mod serde {}
    pub mod core {}
    pub mod std {}

    #[derive(::serde::Serialize, ::serde::Deserialize, ::core::fmt::Debug)]
    pub struct Volume {
        pub id: u64,
    }

    #[derive(::serde::Serialize, ::serde::Deserialize, ::core::fmt::Debug)]
    pub enum VolumeError {
        Rpc(::rpc_runtime::RpcError),
    }

    impl ::core::fmt::Display for VolumeError {
        fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
            match self {
                VolumeError::Rpc(error) => ::core::fmt::Display::fmt(error, f),
            }
        }
    }

    impl ::std::error::Error for VolumeError {}

    impl ::core::convert::From<::rpc_runtime::RpcError> for VolumeError {
        fn from(error: ::rpc_runtime::RpcError) -> Self {
            VolumeError::Rpc(error)
        }
    }

    /// A service declared without the prelude.
    #[rpc_service(topic = "hygiene", version = "2.1")]
    pub trait Hygiene {
        /// Returns a volume.
        async fn fallible(
            &self,
            ctx: &Context,
            name: ::std::string::String,
            tags: ::std::vec::Vec<::std::string::String>,
        ) -> ::core::result::Result<Volume, VolumeError>;
        async fn value(&self, ctx: &Context) -> ::core::option::Option<u8>;
        async fn unit(&self, ctx: &Context);
        #[rpc(cast, since = "2.1")]
        async fn one_way(&self, ctx: &Context, r#type: u64);
    }
}

use rpc_runtime::{ArgDescriptor, MethodKind};

#[test]
fn the_descriptor_describes_the_trait() {
    let service = no_prelude::HygieneClient::descriptor();
    assert_eq!(
        (service.name, service.topic, service.version),
        ("Hygiene", "hygiene", "2.1")
    );
    assert_eq!(service.docs, "A service declared without the prelude.");
    let names: Vec<_> = service.methods.iter().map(|m| m.name).collect();
    assert_eq!(names, ["fallible", "value", "unit", "one_way"]);

    let fallible = service.method("fallible").expect("fallible");
    assert_eq!(fallible.kind, MethodKind::Call);
    assert_eq!(fallible.docs, "Returns a volume.");
    assert_eq!(
        fallible.args,
        [
            ArgDescriptor {
                name: "name",
                ty: "::std::string::String"
            },
            ArgDescriptor {
                name: "tags",
                ty: "::std::vec::Vec<::std::string::String>"
            },
        ]
    );
    assert_eq!(
        (fallible.returns, fallible.error),
        ("Volume", Some("VolumeError"))
    );

    let value = service.method("value").expect("value");
    assert_eq!(
        (value.returns, value.error),
        ("::core::option::Option<u8>", None)
    );
    assert_eq!(service.method("unit").expect("unit").returns, "()");

    let one_way = service.method("one_way").expect("one_way");
    assert_eq!(
        (one_way.kind, one_way.since),
        (MethodKind::Cast, Some("2.1"))
    );
    assert_eq!(
        one_way.args,
        [ArgDescriptor {
            name: "type",
            ty: "u64"
        }]
    );
    assert!(service.method("nope").is_none());
}
