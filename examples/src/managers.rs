//! The managers: what each service does when a request arrives.

use std::collections::BTreeMap;
use std::sync::Mutex;

use rpc_runtime::notify::{Notification, Notifier};
use rpc_runtime::{Context, RpcError, RpcStream, Transport};
use tokio::sync::watch;

use crate::services::{
    HostState, SchedulerError, SchedulerManager, SchedulerManagerClient, Volume, VolumeManager,
    VolumeUsage,
};
use crate::trace;

/// The scheduler: a table of free space per host, which the hosts' reports
/// set and each placement reserves from (as nova's and cinder's schedulers
/// consume from their host states between periodic reports).
#[derive(Debug, Default)]
pub struct Scheduler {
    free: Mutex<BTreeMap<String, u32>>,
    /// Host -> the request its latest report answered.
    reported_for: Mutex<BTreeMap<String, String>>,
}

impl SchedulerManager for Scheduler {
    async fn select_host(&self, _ctx: &Context, size_gb: u32) -> Result<String, SchedulerError> {
        let mut free = self.free.lock().unwrap_or_else(|p| p.into_inner());
        let best = free
            .iter_mut()
            .filter(|(_, free_gb)| **free_gb >= size_gb)
            .max_by_key(|(_, free_gb)| **free_gb);
        match best {
            Some((host, free_gb)) => {
                *free_gb -= size_gb;
                Ok(host.clone())
            }
            None => Err(SchedulerError::NoValidHost { size_gb }),
        }
    }

    async fn hosts(&self, _ctx: &Context) -> Vec<HostState> {
        let free = self.free.lock().unwrap_or_else(|p| p.into_inner());
        free.iter()
            .map(|(host, free_gb)| HostState {
                host: host.clone(),
                free_gb: *free_gb,
            })
            .collect()
    }

    async fn reported(&self, _ctx: &Context, request_id: String) -> Vec<String> {
        let reported_for = self.reported_for.lock().unwrap_or_else(|p| p.into_inner());
        reported_for
            .iter()
            .filter(|(_, request)| **request == request_id)
            .map(|(host, _)| host.clone())
            .collect()
    }

    async fn update_capabilities(&self, ctx: &Context, host: String, free_gb: u32) {
        trace::line("scheduler", format!("<- {host} reports {free_gb} GB free"));
        // Both tables under one lock order: free, then reported_for.
        let mut free = self.free.lock().unwrap_or_else(|p| p.into_inner());
        free.insert(host.clone(), free_gb);
        self.reported_for
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(host, ctx.request_id().to_owned());
    }
}

/// A volume host with a fixed capacity; it reports its free space when
/// asked (`refresh_capabilities`).
#[derive(Debug)]
pub struct VolumeHost {
    host: String,
    capacity_gb: u32,
    volumes: Mutex<Vec<Volume>>,
    scheduler: SchedulerManagerClient,
    notifier: Notifier,
}

impl VolumeHost {
    /// A host named `host` with `capacity_gb`, reporting to the scheduler over `transport`.
    pub fn new(host: &str, capacity_gb: u32, transport: &Transport) -> Self {
        Self {
            host: host.to_owned(),
            capacity_gb,
            volumes: Mutex::new(Vec::new()),
            scheduler: SchedulerManagerClient::new(transport),
            notifier: Notifier::new(transport, format!("volume.{host}")),
        }
    }

    fn free_gb(&self) -> u32 {
        let volumes = self.volumes.lock().unwrap_or_else(|p| p.into_inner());
        self.capacity_gb
            - volumes
                .iter()
                .map(|v| v.size_gb)
                .sum::<u32>()
                .min(self.capacity_gb)
    }

    async fn emit(&self, ctx: &Context, event_type: &str, usage: &VolumeUsage) {
        if let Err(error) = self.notifier.info(ctx, event_type, usage).await {
            trace::line(&self.host, format!("could not emit {event_type}: {error}"));
        }
    }

    async fn report(&self, ctx: &Context) {
        let free_gb = self.free_gb();
        if let Err(error) = self
            .scheduler
            .update_capabilities(ctx, self.host.clone(), free_gb)
            .await
        {
            trace::line(
                &self.host,
                format!("could not report to the scheduler: {error}"),
            );
        }
    }
}

impl VolumeManager for VolumeHost {
    async fn create_volume(&self, ctx: &Context, volume_id: u64, name: String, size_gb: u32) {
        trace::line(
            &self.host,
            format!("<- create_volume #{volume_id} `{name}` ({size_gb} GB)"),
        );
        let usage = VolumeUsage {
            volume_id,
            name: name.clone(),
            size_gb,
            host: self.host.clone(),
        };
        self.emit(ctx, "volume.create.start", &usage).await;
        self.volumes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(Volume {
                id: volume_id,
                name,
                size_gb,
                host: self.host.clone(),
            });
        self.emit(ctx, "volume.create.end", &usage).await;
    }

    async fn delete_volume(&self, _ctx: &Context, volume_id: u64) {
        trace::line(&self.host, format!("<- delete_volume #{volume_id}"));
        self.volumes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|v| v.id != volume_id);
    }

    async fn refresh_capabilities(&self, ctx: &Context) {
        self.report(ctx).await;
    }

    async fn list_volumes(&self, _ctx: &Context) -> Vec<Volume> {
        self.volumes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    async fn stream_volumes(&self, ctx: &Context) -> RpcStream<Volume, RpcError> {
        RpcStream::iter(self.list_volumes(ctx).await.into_iter().map(Ok))
    }
}

/// Billing: counts the volume events it hears (a listener of the default
/// queue, `notifications.info`).
#[derive(Debug, Clone)]
pub struct Billing {
    events: std::sync::Arc<watch::Sender<usize>>,
}

impl Default for Billing {
    fn default() -> Self {
        Self {
            events: std::sync::Arc::new(watch::Sender::new(0)),
        }
    }
}

impl Billing {
    /// Handles one notification: prints it.
    pub async fn handle(
        &self,
        notification: Notification,
    ) -> Result<(), rpc_runtime::codec::CodecError> {
        let usage: VolumeUsage = notification.payload()?;
        trace::line(
            "billing",
            format!(
                "<- {} from {}: `{}` ({} GB)",
                notification.event_type(),
                notification.publisher_id(),
                usage.name,
                usage.size_gb
            ),
        );
        self.events.send_modify(|n| *n += 1);
        Ok(())
    }

    /// Waits until `count` events were billed.
    pub async fn wait_for(&self, count: usize) {
        let mut seen = self.events.subscribe();
        let _ = seen.wait_for(|n| *n >= count).await;
    }
}
