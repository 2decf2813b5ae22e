//! Fixtures for the integration tests: a sample service with a manager that
//! records what it handled, per-test environments with unique names on a
//! real RabbitMQ, and the Python oslo.messaging peer of the interop tests.

pub mod cluster;
pub mod conformance;
pub mod env;
pub mod faults;
pub mod oslo;
pub mod process;
pub mod python;
pub mod volume;

pub use env::{Env, Kind, Speaks};
