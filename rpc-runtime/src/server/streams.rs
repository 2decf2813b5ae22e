//! The streams a server is sending (see [`crate::stream`]): each one's
//! credit and cancellation, keyed by the call's correlation id, and the task
//! that sends one.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use futures_util::{Stream, StreamExt as _};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use crate::codec::AnyCodec;
use crate::stream::INITIAL_CREDIT;
use crate::stream::frames::{self, Frame};
use crate::transport::Transport;

/// A manager's stream, encoded: items until an end or a failure.
pub(crate) type Frames = Pin<Box<dyn Stream<Item = Frame> + Send>>;

/// The credit and cancellation of one stream.
#[derive(Debug)]
struct Control {
    credit: Semaphore,
    cancel: CancellationToken,
}

/// Every stream a server is sending.
#[derive(Debug, Default)]
pub(crate) struct Streams {
    active: Mutex<HashMap<String, Arc<Control>>>,
}

impl Streams {
    fn active(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Control>>> {
        self.active.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The caller of stream `id` takes `n` more items.
    pub(crate) fn grant(&self, id: &str, n: u32) {
        if let Some(control) = self.active().get(id) {
            // Bounded: a caller cannot make the server buffer without end.
            let room =
                (INITIAL_CREDIT as usize * 4).saturating_sub(control.credit.available_permits());
            control.credit.add_permits((n as usize).min(room));
        }
    }

    /// The caller of stream `id` stopped reading.
    pub(crate) fn cancel(&self, id: &str) {
        if let Some(control) = self.active().get(id) {
            control.cancel.cancel();
        }
    }
}

/// Where a stream goes and for how long.
#[derive(Debug)]
pub(crate) struct Destination {
    pub(crate) reply_to: String,
    pub(crate) correlation_id: String,
    /// The server's name, for the caller's credit and cancel casts.
    pub(crate) server: String,
    pub(crate) codec: AnyCodec,
    pub(crate) deadline: Option<SystemTime>,
}

/// Sends `frames` to the caller within its credit, until the stream ends,
/// the caller cancels, its deadline passes or a send fails.
pub(crate) async fn pump(
    transport: Transport,
    streams: Arc<Streams>,
    mut frames: Frames,
    to: Destination,
) {
    let control = Arc::new(Control {
        credit: Semaphore::new(INITIAL_CREDIT as usize),
        cancel: CancellationToken::new(),
    });
    streams
        .active()
        .insert(to.correlation_id.clone(), Arc::clone(&control));
    let _registered = Unregister(&streams, &to.correlation_id);
    // One timer for the whole stream: the caller's deadline.
    let left = to
        .deadline
        .map_or(Duration::from_secs(u64::from(u32::MAX)), |d| {
            d.duration_since(SystemTime::now()).unwrap_or_default()
        });
    let expiry = tokio::time::sleep(left);
    tokio::pin!(expiry);
    let reply_to = crate::transport::Destination::Queue {
        name: to.reply_to.clone(),
    };
    let mut seq = 0u64;
    loop {
        // An item is pulled from the manager only once the caller can take it.
        let permit = tokio::select! {
            permit = control.credit.acquire() => permit,
            () = control.cancel.cancelled() => return,
            () = &mut expiry => return,
        };
        if let Ok(permit) = permit {
            permit.forget();
        }
        let frame = tokio::select! {
            frame = frames.next() => frame.unwrap_or(Frame::End),
            () = control.cancel.cancelled() => return,
            () = &mut expiry => return,
        };
        let mut last = !matches!(frame, Frame::Item(_));
        let mut message = frames::encode(transport.wire(), &to.codec, seq, frame);
        if let Err(error) = transport.check_size(&message) {
            last = true;
            message = frames::encode(
                transport.wire(),
                &to.codec,
                seq,
                Frame::Failed(crate::wire::ReplyBody::Failure(error)),
            );
        }
        message.correlation_id = Some(to.correlation_id.clone());
        message.reply_to = Some(to.server.clone());
        if let Err(error) = transport.reply(&reply_to, message).await {
            tracing::debug!(%error, "a stream's caller is gone");
            return;
        }
        if last {
            return;
        }
        seq += 1;
    }
}

struct Unregister<'a>(&'a Streams, &'a str);

impl Drop for Unregister<'_> {
    fn drop(&mut self) {
        self.0.active().remove(self.1);
    }
}
