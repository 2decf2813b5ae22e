//! Compile tests only: see `tests/`.
