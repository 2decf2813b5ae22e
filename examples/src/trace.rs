//! The example's printed trace: who called whom, and how long it took.

use std::time::Duration;

/// Prints one line of the trace: `who`, an arrow, and what happened.
pub fn line(who: &str, what: impl std::fmt::Display) {
    println!("{who:<10} {what}");
}

/// A duration as milliseconds with one decimal.
pub fn ms(elapsed: Duration) -> String {
    format!("{:.1} ms", elapsed.as_secs_f64() * 1000.0)
}
