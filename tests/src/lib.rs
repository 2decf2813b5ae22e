//! Fixtures for the integration tests: a sample service with a manager that
//! records what it handled, and per-test environments with unique names on
//! a real RabbitMQ.

pub mod conformance;
pub mod env;
pub mod volume;

pub use env::{Env, Kind};
