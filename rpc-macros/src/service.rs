//! The service dispatcher (oslo's Service + Manager glue): `<Trait>Service<M>`
//! decodes each request's arguments, calls the manager's method and encodes
//! what it returned.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;

use rpc_model::reserved::{self, DESCRIPTOR, FROM_ARC, MANAGER, NEW};
use rpc_model::{Method, MethodKind, Service};

use crate::bodies::Bodies;

/// The dispatcher struct (outside the private block).
pub(crate) fn service_type(service: &Service) -> TokenStream {
    let vis = &service.vis;
    let ident = service.service_ident();
    let doc = format!(
        "Serves a [`{}`] manager: hand it to `rpc_runtime::Server::builder(..).serve(..)`.",
        service.ident
    );
    quote! {
        #[doc = #doc]
        #vis struct #ident<M> {
            manager: ::std::sync::Arc<M>,
        }
    }
}

/// The dispatcher's constructors and its `rpc_runtime::Service` impl.
pub(crate) fn impls(service: &Service, bodies: Bodies) -> TokenStream {
    let trait_ident = &service.ident;
    let ident = service.service_ident();
    let name = ident.to_string();
    // A stand-in knows no method (and needs no argument types).
    let dispatched = match bodies {
        Bodies::Real => &service.methods[..],
        Bodies::Stub => &[],
    };
    // A stand-in asks of its manager only what `rpc_runtime::Service`
    // does: the trait with mistakes may not be usable as a bound (a
    // generic one), and the user's impl of it has its own errors, if any.
    let manager_bound = match bodies {
        Bodies::Real => quote!(#trait_ident),
        Bodies::Stub => quote!(::core::marker::Send + ::core::marker::Sync + 'static),
    };
    let args = crate::args::items(dispatched);
    let arms = dispatched.iter().map(|method| arm(trait_ident, method));
    let [new, from_arc, manager, descriptor] =
        [NEW, FROM_ARC, MANAGER, DESCRIPTOR].map(reserved::ident);
    quote! {
        #args

        impl<M: #manager_bound> #ident<M> {
            /// Serves `manager`.
            pub fn #new(manager: M) -> Self {
                Self { manager: ::std::sync::Arc::new(manager) }
            }

            /// Serves a manager that is shared with other code.
            pub fn #from_arc(manager: ::std::sync::Arc<M>) -> Self {
                Self { manager }
            }

            /// The manager being served.
            pub fn #manager(&self) -> &::std::sync::Arc<M> {
                &self.manager
            }

            /// The service's descriptor: topic, version, methods.
            pub fn #descriptor() -> &'static ::rpc_runtime::ServiceDescriptor {
                &__RPC_DESCRIPTOR
            }
        }

        impl<M> ::core::clone::Clone for #ident<M> {
            fn clone(&self) -> Self {
                Self { manager: ::core::clone::Clone::clone(&self.manager) }
            }
        }

        impl<M> ::core::fmt::Debug for #ident<M> {
            fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                f.debug_struct(#name).field("topic", &__RPC_DESCRIPTOR.topic).finish_non_exhaustive()
            }
        }

        impl<M: #manager_bound> ::rpc_runtime::Service for #ident<M> {
            fn descriptor(&self) -> &'static ::rpc_runtime::ServiceDescriptor {
                &__RPC_DESCRIPTOR
            }

            fn dispatch<'a>(
                &'a self,
                request: ::rpc_runtime::__private::Request<'a>,
            ) -> ::rpc_runtime::__private::BoxFuture<'a, ::rpc_runtime::__private::Response> {
                ::std::boxed::Box::pin(async move {
                    match request.method() {
                        #(#arms)*
                        _ => ::rpc_runtime::__private::Response::failure(
                            ::rpc_runtime::RpcError::UnknownMethod {
                                topic: ::std::string::ToString::to_string(__RPC_DESCRIPTOR.topic),
                                method: ::std::string::ToString::to_string(request.method()),
                            },
                        ),
                    }
                })
            }
        }
    }
}

fn arm(trait_ident: &syn::Ident, method: &Method) -> TokenStream {
    let ident = &method.ident;
    let name = method.name();
    let types = crate::args::types_ident(method);
    let locals: Vec<_> = (0..method.args.len())
        .map(|i| quote::format_ident!("__rpc_arg{}", i))
        .collect();
    let pattern = crate::args::list(&locals);
    let ctx_ty = &method.ctx_ty;
    let ctx = quote_spanned! {ctx_ty.span()=>
        {
            let __rpc_ctx: #ctx_ty = request.context();
            __rpc_ctx
        }
    };
    let (decode, respond) = match method.kind {
        MethodKind::Stream => (
            quote!(decode_stream_args),
            quote!(request.respond_stream(&#types, __rpc_out)),
        ),
        _ => (
            quote!(decode_args),
            quote!(request.respond(&#types, &__rpc_out)),
        ),
    };
    quote! {
        #name => {
            let #pattern = match request.#decode(&#types) {
                ::core::result::Result::Ok(args) => args,
                ::core::result::Result::Err(response) => return response,
            };
            #[allow(clippy::let_unit_value)]
            let __rpc_out = <M as #trait_ident>::#ident(&*self.manager, #ctx, #(#locals),*).await;
            #respond
        }
    }
}
