//! How the AMQP driver sends a message: to which exchange and routing key
//! a destination goes, on which of the session's publishers, and what the
//! sender then waits for. Just after a reconnect, a message nobody could
//! route is sent again for a while ([`AmqpDriver::publish_rebinding`]).

use std::borrow::Cow;
use std::time::Duration;

use super::AmqpDriver;
use super::confirms::Notify;
use super::session::{self, Session};
use crate::error::RpcError;
use crate::message::Message;
use crate::topology::Exchange;
use crate::transport::Destination;
use crate::transport::driver::{Confirm, Publish, Settle};

/// How often a message nobody could route is sent again just after a
/// reconnect.
const REBIND_RETRY: Duration = Duration::from_millis(200);

impl AmqpDriver {
    /// Publishes `message` to `to` as `how` says (see `Driver::publish`).
    pub(super) async fn send(
        &self,
        to: &Destination,
        message: Message,
        how: Publish,
    ) -> Result<Confirm, RpcError> {
        let session = self.session(how).await?;
        if session.is_rebinding() && !matches!(how.settle, Settle::None) {
            return self.publish_rebinding(&session, to, message, how).await;
        }
        let (exchange, routing_key, names_queue) = self.route(&session, to).await?;
        let fanout = matches!(to, Destination::Fanout { .. });
        let publisher = session.publisher_for(message.body.len(), fanout).await?;
        match how.settle {
            Settle::Confirm => {
                let (done, confirmed) = Confirm::pending();
                let notify = Notify::Wait(done);
                publisher
                    .publish(&exchange, &routing_key, message, notify, names_queue)
                    .await?;
                Ok(confirmed)
            }
            // Confirmed, but not awaited: the reply says more. A refused
            // or returned request fails its call at once.
            Settle::Call(call) => {
                let notify = Notify::Call(call, self.events.clone());
                publisher
                    .publish(&exchange, &routing_key, message, notify, names_queue)
                    .await?;
                Ok(Confirm::Done(Ok(())))
            }
            // A large reply goes confirmed, one at a time, on a channel
            // of its own (a refusal for its size closes the channel).
            Settle::None if message.body.len() > session::LARGE => {
                let (done, confirmed) = Confirm::pending();
                publisher
                    .publish(
                        &exchange,
                        &routing_key,
                        message,
                        Notify::Wait(done),
                        names_queue,
                    )
                    .await?;
                Ok(confirmed)
            }
            Settle::None => {
                session
                    .direct()
                    .await?
                    .publish(&exchange, &routing_key, message)
                    .await?;
                Ok(Confirm::Done(Ok(())))
            }
        }
    }

    /// Publishes just after a reconnect, when bindings may still be coming
    /// back: a message nobody could route is sent again every
    /// [`REBIND_RETRY`] while the session is rebinding and its deadline
    /// allows (a whole-cluster restart loses a non-durable exchange's
    /// bindings until the servers declare them again). Waits for the
    /// confirm, so a call's request is settled here too.
    async fn publish_rebinding(
        &self,
        session: &Session,
        to: &Destination,
        message: Message,
        how: Publish,
    ) -> Result<Confirm, RpcError> {
        let fanout = matches!(to, Destination::Fanout { .. });
        loop {
            let once = async {
                // A fanout exchange may be missing until its servers are back.
                let (exchange, routing_key, names_queue) = self.route(session, to).await?;
                let publisher = session.publisher_for(message.body.len(), fanout).await?;
                let (done, confirmed) = Confirm::pending();
                let notify = Notify::Wait(done);
                publisher
                    .publish(
                        &exchange,
                        &routing_key,
                        message.clone(),
                        notify,
                        names_queue,
                    )
                    .await?;
                confirmed.outcome().await
            };
            let outcome = once.await;
            let again = std::time::Instant::now() + REBIND_RETRY;
            match outcome {
                Err(RpcError::Undeliverable { .. })
                    if session.is_rebinding() && again < how.deadline =>
                {
                    tokio::time::sleep_until(again.into()).await;
                }
                outcome => return Ok(Confirm::Done(outcome)),
            }
        }
    }

    /// The exchange and routing key of a destination, and whether the key
    /// names a queue.
    async fn route<'a>(
        &'a self,
        session: &Session,
        destination: &'a Destination,
    ) -> Result<(Cow<'a, str>, Cow<'a, str>, bool), RpcError> {
        let names_queue = matches!(
            destination,
            Destination::Topic { .. } | Destination::Server { .. } | Destination::Queue { .. }
        );
        let route = destination.route();
        let exchange = match route.exchange {
            Exchange::Control => Cow::Borrowed(self.config.exchange()),
            Exchange::Fanout(name) => {
                // Servers declare it; it is auto-deleted with the topic's
                // last server. Checked (passively, so a typo creates
                // nothing) before each fanout cast: publishing to a missing
                // exchange would close the channel.
                if !session.admin.exchange_exists(&name).await? {
                    return Err(RpcError::Undeliverable { destination: name });
                }
                Cow::Owned(name)
            }
            Exchange::Direct => Cow::Borrowed(""),
        };
        Ok((exchange, Cow::Owned(route.key), names_queue))
    }
}
