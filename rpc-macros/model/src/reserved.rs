//! The names the generated code gives its own methods beside a trait's
//! (the client's options, the descriptor) and the methods every server
//! answers itself: one list, read by the parser (a trait method may not
//! take these names) and by the code generator (which names its methods
//! from these constants), so the two cannot drift apart.

/// `FooClient::new(&transport)`.
pub const NEW: &str = "new";
/// `client.to_server("host-1")`.
pub const TO_SERVER: &str = "to_server";
/// `client.timeout(d)`.
pub const TIMEOUT: &str = "timeout";
/// `client.topic("other")`.
pub const TOPIC: &str = "topic";
/// `client.version_cap("3.0")`.
pub const VERSION_CAP: &str = "version_cap";
/// `client.can_send_version("3.1")`.
pub const CAN_SEND_VERSION: &str = "can_send_version";
/// `client.call_monitor(d)`.
pub const CALL_MONITOR: &str = "call_monitor";
/// `client.with_options(|o| o.fail_fast(true))`: every other per-call
/// option, so that a new one takes no name from a trait.
pub const WITH_OPTIONS: &str = "with_options";
/// `client.fanout()`.
pub const FANOUT: &str = "fanout";
/// `FooClient::descriptor()` and `FooService::descriptor()`.
pub const DESCRIPTOR: &str = "descriptor";
/// `FooService::from_arc(manager)`.
pub const FROM_ARC: &str = "from_arc";
/// `service.manager()`.
pub const MANAGER: &str = "manager";
/// The method every server answers with its name and load.
pub const PING: &str = "ping";
/// The method every server answers with its service's description.
pub const DESCRIBE: &str = "describe";
/// The method granting a stream more items (`rpc_runtime::stream`).
pub const STREAM_CREDIT: &str = "_stream_credit";
/// The method stopping a stream (`rpc_runtime::stream`).
pub const STREAM_CANCEL: &str = "_stream_cancel";

/// Every reserved name.
pub const RESERVED_METHOD_NAMES: &[&str] = &[
    NEW,
    TO_SERVER,
    TIMEOUT,
    TOPIC,
    VERSION_CAP,
    CAN_SEND_VERSION,
    CALL_MONITOR,
    WITH_OPTIONS,
    FANOUT,
    DESCRIPTOR,
    FROM_ARC,
    MANAGER,
    PING,
    DESCRIBE,
    STREAM_CREDIT,
    STREAM_CANCEL,
];

/// An identifier for a reserved name, for the code generator.
pub fn ident(name: &str) -> syn::Ident {
    debug_assert!(RESERVED_METHOD_NAMES.contains(&name));
    syn::Ident::new(name, proc_macro2::Span::call_site())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each reserved name, as a trait method, is refused on its own tokens,
    /// also written as a raw identifier.
    #[test]
    fn every_reserved_name_is_refused() {
        for name in RESERVED_METHOD_NAMES {
            for written in [name.to_string(), format!("r#{name}")] {
                let method: syn::TraitItemFn =
                    syn::parse_str(&format!("async fn {written}(&self, ctx: &Context) -> u32;"))
                        .expect("a method");
                let item: syn::ItemTrait = syn::parse_quote!(pub trait T { #method });
                let error = crate::parse_service(quote::quote!(topic = "t"), item)
                    .expect_err(name)
                    .to_string();
                assert!(
                    error.contains(&format!("`{name}` is reserved")),
                    "{name}: {error}"
                );
            }
        }
    }
}
