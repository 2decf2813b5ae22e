//! A client's typed requests: calls (waiting for the reply, with the
//! call monitor's heartbeats), casts (waiting for the broker's confirm)
//! and streaming calls, each under its span and counted in the metrics.

use tracing::{Instrument, Span};

use super::ClientCore;
use crate::context::Context;
use crate::descriptor::MethodDescriptor;
use crate::error::RpcError;
use crate::options::CallOptions;
use crate::stream::RpcStream;
use crate::telemetry::{self, spans};
use crate::typed::{MethodTypes, StreamTypes};
use crate::wire::ReplyBody;

impl ClientCore {
    /// The options a request made with `context` is sent with: the
    /// client's, its timeout no longer than the context's deadline allows
    /// (a call made while handling another never outlives the caller's
    /// deadline).
    fn options_for(&self, context: &Context) -> CallOptions {
        let timeout = self.options.timeout_or_default();
        let timeout = context
            .remaining()
            .map_or(timeout, |left| left.min(timeout));
        self.options.clone().timeout(timeout)
    }

    /// Sends a call and waits for its reply, read through `types`.
    pub async fn call<A, O, C>(
        &self,
        method: &'static MethodDescriptor,
        types: &'static MethodTypes<A, O, C>,
        context: &Context,
        args: A,
    ) -> C {
        let span = spans::client(self.service, method, self.transport.wire().system(), false);
        // Tokio's clock: the call's deadline counts from here too.
        let started = tokio::time::Instant::now();
        let reply = self
            .try_call(&span, (method, started), types, context, args)
            .instrument(span.clone())
            .await;
        let outcome = match &reply {
            Ok(reply) => telemetry::outcome(Some(reply)),
            Err(error) => error.kind(),
        };
        if outcome != "ok" {
            spans::failed(&span, outcome);
        }
        telemetry::call_done(self.service.name, method.name, outcome, started.elapsed());
        match reply {
            Ok(reply) => (types.decode_reply)(self.transport.wire().codec(), reply),
            Err(error) => (types.fail)(error),
        }
    }

    /// The call, its deadline counted from when it `started`.
    async fn try_call<A, O, C>(
        &self,
        span: &Span,
        (method, started): (&'static MethodDescriptor, tokio::time::Instant),
        types: &MethodTypes<A, O, C>,
        context: &Context,
        args: A,
    ) -> Result<ReplyBody, RpcError> {
        let destination = self.destination(false)?;
        let body = self.encode(method, types.names, types.encode_args, &args)?;
        drop(args);
        let options = self.options_for(context);
        let message = self.request(span, (method, &destination), context, body, &options)?;
        let reply = self
            .transport
            .call_monitored(method.name, &destination, message, started, &options)
            .await?;
        self.transport.wire().decode_reply(reply)
    }

    /// Sends a cast and returns once the broker confirmed it; with `fanout`,
    /// to every server of the topic.
    pub async fn cast<A, O, C>(
        &self,
        method: &'static MethodDescriptor,
        types: &'static MethodTypes<A, O, C>,
        context: &Context,
        args: A,
        fanout: bool,
    ) -> C {
        let span = spans::client(self.service, method, self.transport.wire().system(), true);
        let sent = async {
            let destination = self.destination(fanout)?;
            let body = self.encode(method, types.names, types.encode_args, &args)?;
            // Waits for the confirm no longer than a call would for its reply.
            let options = self.options_for(context);
            let mut message = self.request(
                &span,
                (method, &destination),
                context,
                body,
                &options.for_cast(),
            )?;
            // Persistent: a cast waiting in a durable queue survives a broker restart.
            message.persistent = true;
            self.transport
                .cast_named(method.name, &destination, message, &options)
                .await
        };
        let sent = sent.instrument(span.clone()).await;
        if let Err(error) = &sent {
            spans::failed(&span, error.kind());
        }
        telemetry::cast_done(self.service.name, method.name, sent.as_ref().map(|_| ()));
        match sent {
            Ok(()) => {
                (types.decode_reply)(self.transport.wire().codec(), ReplyBody::Value(Vec::new()))
            }
            Err(error) => (types.fail)(error),
        }
    }

    /// Sends a streaming call; the items arrive through the returned
    /// stream (a failure to send is its only item).
    pub async fn stream<A, T, E>(
        &self,
        method: &'static MethodDescriptor,
        types: &'static StreamTypes<A, T, E>,
        context: &Context,
        args: A,
    ) -> RpcStream<T, E>
    where
        T: Send + 'static,
        E: Send + 'static,
    {
        let span = spans::client(self.service, method, self.transport.wire().system(), false);
        let opened = async {
            let destination = self.destination(false)?;
            let body = self.encode(method, types.names, types.encode_args, &args)?;
            drop(args);
            let options = self.options_for(context);
            let message = self.request(&span, (method, &destination), context, body, &options)?;
            let call = self
                .transport
                .open_call(method.name, &destination, message, &options)
                .await?;
            Ok::<_, RpcError>((call, options.timeout_or_default()))
        }
        .instrument(span.clone())
        .await;
        match opened {
            Ok((call, timeout)) => crate::stream::open(crate::stream::Opened {
                transport: self.transport.clone(),
                call,
                method: method.name.to_owned(),
                topic: self.topic.to_string(),
                namespace: self.service.namespace,
                timeout,
                monitor: self.options.call_monitor,
                decode_item: types.decode_item,
                decode_end: types.decode_end,
                fail: types.fail,
            }),
            Err(error) => {
                spans::failed(&span, error.kind());
                RpcStream::failed((types.fail)(error))
            }
        }
    }
}
