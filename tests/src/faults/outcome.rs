//! What a case of the fault matrix that is not a load run saw (the broker's
//! own policies: consumer timeouts, permissions, message size, dropped
//! transports), as a row of its own table in `bench/FAULTS.md`.

use std::fmt::Write as _;

/// One such case.
#[derive(Debug, Default)]
pub struct Outcome {
    pub case: String,
    /// What the service saw, in a few words.
    pub saw: String,
    /// What broke the case's promises.
    pub problems: Vec<String>,
}

impl Outcome {
    pub fn new(case: impl Into<String>) -> Self {
        Self {
            case: case.into(),
            ..Self::default()
        }
    }

    /// Records a broken promise unless `held`.
    pub fn expect(&mut self, held: bool, problem: impl FnOnce() -> String) {
        if !held {
            self.problems.push(problem());
        }
    }
}

/// The table of such cases.
pub fn outcomes_table(outcomes: &[Outcome]) -> String {
    let mut out = String::from("| case | what the service saw | promise |\n|---|---|---|\n");
    for outcome in outcomes {
        let held = if outcome.problems.is_empty() {
            "held".to_owned()
        } else {
            format!("broken: {}", outcome.problems.join("; "))
        };
        let _ = writeln!(out, "| {} | {} | {} |", outcome.case, outcome.saw, held);
    }
    out
}
