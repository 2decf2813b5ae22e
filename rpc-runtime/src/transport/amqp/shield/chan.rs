//! [`Chan`]: a channel, whose waiting operations run shielded, bounded, one
//! at a time, and which is closed as one of them when its last handle goes.
//!
//! amqprs closes a channel whose last handle is dropped while it is open in
//! a task of its own, which nobody waits for: a runtime shutting down drops
//! it half-way, and the channel's dispatcher then panics (acking the
//! responder that task registered, or answering its close). So a [`Chan`]
//! closes its channel itself, as a tracked operation ([`Closer`]), and the
//! link keeps a handle to every channel it opened until it closes them
//! (see [`Link::close_now`](super::Link::close_now)): amqprs's own close
//! only ever finds channels closed already, or on a lost connection, whose
//! dispatchers are gone with it.

use std::future::Future;
use std::sync::Arc;

use amqprs::BasicProperties;
use amqprs::channel::{
    BasicAckArguments, BasicCancelArguments, BasicConsumeArguments, BasicGetArguments,
    BasicNackArguments, BasicPublishArguments, BasicQosArguments, Channel, ConfirmSelectArguments,
    ConsumerMessage, ExchangeDeclareArguments, GetMessage, QueueBindArguments,
    QueueDeclareArguments, QueueDeleteArguments,
};
use tokio::sync::mpsc;

use super::{Gate, Shield};
use crate::error::RpcError;

/// A channel; every waiting operation is shielded, bounded, and run one at
/// a time.
#[derive(Clone)]
pub(crate) struct Chan {
    channel: Channel,
    shield: Shield,
    /// Held by the task of the waiting operation in progress.
    turn: Arc<tokio::sync::Mutex<()>>,
    /// Shut when the broker closes the channel.
    gate: Arc<Gate>,
    /// Closes the channel once no handle and no operation holds it.
    _closer: Arc<Closer>,
}

impl Chan {
    pub(super) fn new(channel: Channel, shield: Shield, gate: Arc<Gate>) -> Self {
        let closer = Closer {
            channel: channel.clone(),
            shield: shield.clone(),
        };
        Self {
            channel,
            shield,
            turn: Arc::default(),
            gate,
            _closer: Arc::new(closer),
        }
    }

    async fn run<T, F, Fut>(&self, what: impl Into<String>, op: F) -> Result<T, RpcError>
    where
        T: Send + 'static,
        F: FnOnce(Channel) -> Fut,
        Fut: Future<Output = Result<T, amqprs::error::Error>> + Send + 'static,
    {
        // The task holds a handle: a caller that stops waiting and drops
        // its own does not close the channel under the operation.
        let this = self.clone();
        let op = op(self.channel.clone());
        let in_turn = async move {
            let _turn = this.turn.lock().await;
            op.await
        };
        self.shield.run(&what.into(), in_turn).await
    }

    /// Whether the channel is open (neither side closed it).
    pub(crate) fn is_open(&self) -> bool {
        self.channel.is_open() && !self.gate.is_shut()
    }

    /// Limits the unacknowledged deliveries the broker pushes.
    pub(crate) async fn qos(&self, prefetch: u16) -> Result<(), RpcError> {
        let args = BasicQosArguments::new(0, prefetch, false);
        self.run("setting the prefetch", |c| async move {
            c.basic_qos(args).await
        })
        .await
    }

    /// Puts the channel in confirm mode.
    pub(crate) async fn confirm_select(&self) -> Result<(), RpcError> {
        let args = ConfirmSelectArguments::new(false);
        self.run("enabling publisher confirms", |c| async move {
            c.confirm_select(args).await
        })
        .await
    }

    /// Declares an exchange (or checks one exists, when passive).
    pub(crate) async fn exchange_declare(
        &self,
        args: ExchangeDeclareArguments,
    ) -> Result<(), RpcError> {
        short(&[&args.exchange])?;
        let what = format!("declaring exchange `{}`", args.exchange);
        self.run(what, |c| async move { c.exchange_declare(args).await })
            .await
    }

    /// Declares a queue; returns its ready messages and consumers.
    pub(crate) async fn queue_declare(
        &self,
        queue: &str,
        args: QueueDeclareArguments,
    ) -> Result<(u32, u32), RpcError> {
        short(&[queue])?;
        let what = format!("declaring queue `{queue}`");
        let declared = self
            .run(what, |c| async move { c.queue_declare(args).await })
            .await?;
        Ok(declared.map_or((0, 0), |(_, ready, consumers)| (ready, consumers)))
    }

    /// Deletes a queue; with `if_idle`, only if nothing waits in it and
    /// nobody consumes it (the broker refuses otherwise, closing the
    /// channel; quorum queues cannot be asked that way).
    pub(crate) async fn queue_delete(&self, queue: &str, if_idle: bool) -> Result<u32, RpcError> {
        short(&[queue])?;
        let mut args = QueueDeleteArguments::new(queue);
        args.if_empty = if_idle;
        args.if_unused = if_idle;
        let what = format!("deleting queue `{queue}`");
        let deleted = self
            .run(what, |c| async move { c.queue_delete(args).await })
            .await?;
        Ok(deleted.unwrap_or(0))
    }

    /// Binds a queue to an exchange.
    pub(crate) async fn queue_bind(&self, args: QueueBindArguments) -> Result<(), RpcError> {
        short(&[&args.queue, &args.exchange, &args.routing_key])?;
        let what = format!("binding queue `{}`", args.queue);
        self.run(what, |c| async move { c.queue_bind(args).await })
            .await
    }

    /// Starts a consumer whose deliveries arrive on a channel.
    pub(crate) async fn consume_rx(
        &self,
        args: BasicConsumeArguments,
    ) -> Result<mpsc::UnboundedReceiver<ConsumerMessage>, RpcError> {
        short(&[&args.queue])?;
        let what = format!("consuming `{}`", args.queue);
        let (_tag, deliveries) = self
            .run(what, |c| async move { c.basic_consume_rx(args).await })
            .await?;
        Ok(deliveries)
    }

    /// Takes one message from `queue`, settled on taking (no ack).
    pub(crate) async fn get(&self, queue: &str) -> Result<Option<GetMessage>, RpcError> {
        short(&[queue])?;
        let args = BasicGetArguments::new(queue).no_ack(true).finish();
        let what = format!("taking a message from `{queue}`");
        self.run(what, |c| async move { c.basic_get(args).await })
            .await
    }

    /// Hands a message to amqprs's writer (cancel-safe: one queue send).
    pub(crate) async fn publish(
        &self,
        properties: BasicProperties,
        body: Vec<u8>,
        args: BasicPublishArguments,
    ) -> Result<(), RpcError> {
        self.channel
            .basic_publish(properties, body, args)
            .await
            .map_err(RpcError::connection)
    }

    /// Acknowledges one delivery (cancel-safe: one queue send), unless the
    /// channel is closed: the broker then delivers the message again.
    pub(crate) async fn ack(&self, tag: u64) -> Result<(), RpcError> {
        let closed = || {
            RpcError::connection(
                "the channel the delivery came on was closed; the broker delivers it again",
            )
        };
        if !self.channel.is_open() {
            return Err(closed());
        }
        let ack = self.channel.basic_ack(BasicAckArguments::new(tag, false));
        match self.gate.pass(ack).await {
            Some(sent) => sent.map_err(RpcError::connection),
            None => Err(closed()),
        }
    }

    /// Lets go of a delivery not handled, in the background, unless the
    /// channel is closed (the broker has then taken it back already): back
    /// to its queue (`basic.nack` with requeue), or, from a stream (which
    /// keeps every message and refuses nacks with a connection error),
    /// acked.
    pub(crate) fn let_go(&self, tag: u64, from_stream: bool) {
        if !self.channel.is_open() {
            return;
        }
        let (channel, gate) = (self.channel.clone(), Arc::clone(&self.gate));
        self.shield.spawn(async move {
            let _ = if from_stream {
                gate.pass(channel.basic_ack(BasicAckArguments::new(tag, false)))
                    .await
            } else {
                gate.pass(channel.basic_nack(BasicNackArguments::new(tag, false, true)))
                    .await
            };
        });
    }

    /// Cancels a consumer and waits for the broker to confirm it.
    pub(crate) async fn cancel_now(&self, tag: &str) {
        let args = BasicCancelArguments::new(tag);
        let _ = self
            .run("cancelling a consumer", |c| async move {
                c.basic_cancel(args).await
            })
            .await;
    }

    /// Cancels a consumer, in the background.
    pub(crate) fn cancel(&self, tag: &str) {
        let this = self.clone();
        let args = BasicCancelArguments::new(tag);
        self.shield.spawn(async move {
            let _ = this
                .run("cancelling a consumer", |c| async move {
                    c.basic_cancel(args).await
                })
                .await;
        });
    }
}

/// Closes the channel of the last [`Chan`] handle dropped while it is
/// open, in a tracked task (amqprs's drop guard would close it in one
/// nobody waits for).
struct Closer {
    channel: Channel,
    shield: Shield,
}

impl Drop for Closer {
    fn drop(&mut self) {
        // On a closed connection amqprs's close does nothing; nor can a
        // task be started outside a runtime.
        let open = self.channel.is_open() && self.channel.is_connection_open();
        if !open || tokio::runtime::Handle::try_current().is_err() {
            return;
        }
        let channel = self.channel.clone();
        let shield = self.shield.clone();
        self.shield.spawn(async move {
            let _ = shield.run("closing a channel", channel.close()).await;
        });
    }
}

/// Refuses a name longer than AMQP's short strings allow (255 bytes), which
/// amqprs would panic on.
fn short(names: &[&str]) -> Result<(), RpcError> {
    match names
        .iter()
        .find(|n| n.len() > crate::topology::MAX_NAME_LEN)
    {
        Some(long) => Err(RpcError::config(format!(
            "the name `{}…` is {} bytes, over AMQP's limit of {}",
            long.chars().take(40).collect::<String>(),
            long.len(),
            crate::topology::MAX_NAME_LEN
        ))),
        None => Ok(()),
    }
}
