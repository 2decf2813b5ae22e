//! Services shared by the examples.
