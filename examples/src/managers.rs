//! The managers: what each service does when a request arrives.

use std::collections::BTreeMap;
use std::sync::Mutex;

use rpc_runtime::{Context, Transport};

use crate::services::{
    HostState, SchedulerError, SchedulerManager, SchedulerManagerClient, Volume, VolumeManager,
};
use crate::trace;

/// The scheduler: a table of free space per host.
#[derive(Debug, Default)]
pub struct Scheduler {
    free: Mutex<BTreeMap<String, u32>>,
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

    async fn update_capabilities(&self, _ctx: &Context, host: String, free_gb: u32) {
        trace::line("scheduler", format!("<- {host} reports {free_gb} GB free"));
        self.free
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(host, free_gb);
    }
}

/// A volume host with a fixed capacity.
#[derive(Debug)]
pub struct VolumeHost {
    host: String,
    capacity_gb: u32,
    volumes: Mutex<Vec<Volume>>,
    scheduler: SchedulerManagerClient,
}

impl VolumeHost {
    /// A host named `host` with `capacity_gb`, reporting to the scheduler over `transport`.
    pub fn new(host: &str, capacity_gb: u32, transport: &Transport) -> Self {
        Self {
            host: host.to_owned(),
            capacity_gb,
            volumes: Mutex::new(Vec::new()),
            scheduler: SchedulerManagerClient::new(transport),
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
        self.volumes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(Volume {
                id: volume_id,
                name,
                size_gb,
                host: self.host.clone(),
            });
        self.report(ctx).await;
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
}
