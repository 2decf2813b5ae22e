//! Whether the generated methods work, or stand in for a trait with mistakes.

/// What the generated methods do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Bodies {
    /// Call, cast and dispatch for real.
    Real,
    /// Stand-ins for a trait with mistakes: client methods panic, the
    /// service knows no method.
    Stub,
}
