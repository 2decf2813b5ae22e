//! The one boxed-future alias of the crate.

/// A boxed, `Send` future: what [`Service::dispatch`](crate::Service::dispatch)
/// and a transport [`Driver`](crate::transport::Driver) return.
pub type BoxFuture<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;
