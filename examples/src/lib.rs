//! The mini-cloud: a small OpenStack-like deployment (api -> scheduler ->
//! volume hosts) built on `rpc-runtime`. `cargo run --example mini-cloud`
//! runs it; the services and managers live here so tests can reuse them.
//! `compute` is the API of the `nova-compute` example.

pub mod compute;
pub mod logging;
pub mod managers;
pub mod services;
pub mod trace;
