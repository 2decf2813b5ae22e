//! The client (oslo's rpcapi) and its cast-only fanout handle.
//!
//! Both wrap the runtime's `ClientCore`. Each trait method becomes a typed
//! async method that builds the argument list and calls or casts through
//! the method's `MethodTypes` table (see [`crate::args`]). The fanout handle
//! refuses the calls and streams with a clear error (see
//! [`crate::fanout_calls`]).

use proc_macro2::TokenStream;
use quote::quote;

use rpc_model::reserved::{
    self, CALL_MONITOR, CAN_SEND_VERSION, DESCRIPTOR, FANOUT, NEW, TIMEOUT, TO_SERVER, TOPIC,
    VERSION_CAP, WITH_OPTIONS,
};
use rpc_model::{Method, MethodKind, Service};

use crate::bodies::Bodies;

/// The names of the client's own methods (beside the trait's), in the
/// order [`impls`] defines them.
pub(crate) const OWN_METHODS: [&str; 10] = [
    NEW,
    TO_SERVER,
    TIMEOUT,
    TOPIC,
    VERSION_CAP,
    CALL_MONITOR,
    WITH_OPTIONS,
    CAN_SEND_VERSION,
    FANOUT,
    DESCRIPTOR,
];

/// The client and fanout struct definitions (outside the private block).
pub(crate) fn types(service: &Service) -> TokenStream {
    let vis = &service.vis;
    let trait_name = service.ident.to_string();
    let client = service.client_ident();
    let fanout = service.fanout_ident();
    let client_doc = format!(
        "The client of [`{trait_name}`]: one typed method per RPC method. Options chain like \
         oslo.messaging's `prepare()`: `to_server`, `timeout`, `topic`; `fanout()` gives the cast-only \
         handle that reaches every server."
    );
    let fanout_doc = format!(
        "A fanout handle on [`{trait_name}`]: casts reach every server of the topic. Only casts \
         exist here; a call to every server is not a thing."
    );
    quote! {
        #[doc = #client_doc]
        #[derive(::core::clone::Clone, ::core::fmt::Debug)]
        #vis struct #client {
            core: ::rpc_runtime::__private::ClientCore,
        }

        #[doc = #fanout_doc]
        #[derive(::core::clone::Clone, ::core::fmt::Debug)]
        #vis struct #fanout {
            core: ::rpc_runtime::__private::ClientCore,
        }
    }
}

/// The client's and the fanout handle's methods (inside the private block).
pub(crate) fn impls(service: &Service, bodies: Bodies) -> TokenStream {
    let client = service.client_ident();
    let fanout = service.fanout_ident();
    let methods = service
        .methods
        .iter()
        .enumerate()
        .map(|(index, method)| client_method(index, method, false, bodies));
    let fanout_methods = service
        .methods
        .iter()
        .enumerate()
        .filter(|(_, method)| method.is_cast())
        .map(|(index, method)| client_method(index, method, true, bodies));
    // A call or stream through the fanout handle: one clear error.
    let refusals = crate::fanout_calls::for_service(service);
    let [
        new,
        to_server,
        timeout,
        topic,
        version_cap,
        call_monitor,
        with_options,
        can_send_version,
        fanout_fn,
        descriptor,
    ] = OWN_METHODS.map(reserved::ident);
    quote! {
        impl #client {
            /// A client of the service's topic, sending to any server.
            pub fn #new(transport: &::rpc_runtime::Transport) -> Self {
                Self { core: ::rpc_runtime::__private::ClientCore::new(transport, &__RPC_DESCRIPTOR) }
            }

            /// The same client, sending to the named server only (its `topic.server` queue).
            pub fn #to_server(&self, server: impl ::core::convert::Into<::std::string::String>) -> Self {
                Self { core: self.core.with_server(server) }
            }

            /// The same client with another reply timeout for calls (default 60 s).
            pub fn #timeout(&self, timeout: ::core::time::Duration) -> Self {
                Self { core: self.core.with_timeout(timeout) }
            }

            /// The same client on another topic than the trait's.
            pub fn #topic(&self, topic: impl ::core::convert::Into<::std::string::String>) -> Self {
                Self { core: self.core.with_topic(topic) }
            }

            /// The same client, refusing before sending any method newer than
            /// `cap` (the version the oldest server of the deployment speaks).
            pub fn #version_cap(&self, cap: impl ::core::convert::Into<::std::string::String>) -> Self {
                Self { core: self.core.with_version_cap(cap) }
            }

            /// The same client, asking servers for heartbeats during calls (oslo's
            /// `call_monitor_timeout`): a call fails with `RpcError::Unresponsive`
            /// after `silence` without one, however long its timeout.
            pub fn #call_monitor(&self, silence: ::core::time::Duration) -> Self {
                Self { core: self.core.with_call_monitor(silence) }
            }

            /// The same client with its per-call options changed by `change`
            /// (`rpc_runtime::CallOptions`: timeout, version cap, call monitor,
            /// fail-fast, ...).
            pub fn #with_options(
                &self,
                change: impl ::core::ops::FnOnce(::rpc_runtime::CallOptions) -> ::rpc_runtime::CallOptions,
            ) -> Self {
                Self { core: self.core.with_options(change) }
            }

            /// Whether a request needing `version` may be sent under the version cap.
            pub fn #can_send_version(&self, version: &str) -> bool {
                self.core.can_send_version(version)
            }

            /// A handle whose casts reach every server of the topic.
            pub fn #fanout_fn(&self) -> #fanout {
                #fanout { core: ::core::clone::Clone::clone(&self.core) }
            }

            /// The service's descriptor: topic, version, methods.
            pub fn #descriptor() -> &'static ::rpc_runtime::ServiceDescriptor {
                &__RPC_DESCRIPTOR
            }

            #(#methods)*
        }

        impl #fanout {
            #(#fanout_methods)*
        }

        #refusals
    }
}

fn client_method(index: usize, method: &Method, fanout: bool, bodies: Bodies) -> TokenStream {
    let ident = &method.ident;
    let docs = method.docs.iter().map(|line| quote!(#[doc = #line]));
    let ctx = &method.ctx_ident;
    let ctx_ty = &method.ctx_ty;
    let params = method.args.iter().map(|arg| {
        let (name, ty) = (&arg.ident, &arg.ty);
        quote!(#name: #ty)
    });
    let args = crate::args::build(method);
    let types = crate::args::types_ident(method);
    let output = crate::returns::output(method);
    let send = match method.kind {
        MethodKind::Cast => {
            quote!(self.core.cast(&__RPC_METHODS[#index], &#types, #ctx, #args, #fanout))
        }
        MethodKind::Call => quote!(self.core.call(&__RPC_METHODS[#index], &#types, #ctx, #args)),
        MethodKind::Stream => {
            quote!(self.core.stream(&__RPC_METHODS[#index], &#types, #ctx, #args))
        }
    };
    let names = method.args.iter().map(|arg| &arg.ident);
    let body = match bodies {
        Bodies::Real => quote!(#send.await),
        Bodies::Stub => quote! {
            let _ = (#ctx, #(#names),*);
            ::core::unimplemented!("the trait has mistakes (see the errors above)")
        },
    };
    quote! {
        #(#docs)*
        pub async fn #ident(&self, #ctx: #ctx_ty, #(#params),*) -> #output {
            #body
        }
    }
}
