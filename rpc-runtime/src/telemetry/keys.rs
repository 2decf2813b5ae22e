//! Metric keys with labels, built once per thread instead of per record.
//!
//! The facade's macros build a labelled key (a `Vec` of labels) every time a
//! metric is recorded; the runtime records a duration on every call and
//! request. Every name and label here is a `&'static str`, so a key is known
//! by the addresses of its strings: each thread keeps the keys it has built
//! and hands the recorder a reference. The recorder is still asked on every
//! record, so a recorder installed (or set locally) later sees everything.

use std::cell::RefCell;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};

use ::metrics::{Key, Label};

use crate::uniform_hash::Uniform;

/// Up to this many labels per key.
const MAX_LABELS: usize = 3;

/// A key's identity: the address and length of its name and of each
/// label's name and value.
#[derive(PartialEq, Eq)]
struct Id {
    strs: [(usize, usize); 1 + 2 * MAX_LABELS],
    folded: u64,
}

impl Id {
    fn of(name: &'static str, labels: &[(&'static str, &'static str)]) -> Self {
        let mut strs = [(0, 0); 1 + 2 * MAX_LABELS];
        let all = std::iter::once(name).chain(labels.iter().flat_map(|(k, v)| [*k, *v]));
        let mut folded = 0u64;
        for (slot, text) in strs.iter_mut().zip(all) {
            *slot = (text.as_ptr() as usize, text.len());
            folded = (folded.rotate_left(5) ^ slot.0 as u64 ^ (slot.1 as u64).rotate_left(48))
                .wrapping_mul(0x517c_c1b7_2722_0a95);
        }
        Self { strs, folded }
    }
}

impl Hash for Id {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.folded);
    }
}

type Keys = HashMap<Id, Key, Uniform>;

thread_local! {
    static KEYS: RefCell<Keys> = RefCell::default();
}

/// Runs `f` with the key of `name` and `labels` (cached for up to three).
pub(super) fn with_key(
    name: &'static str,
    labels: &[(&'static str, &'static str)],
    f: impl FnOnce(&Key),
) {
    let build = || {
        let labels: Vec<Label> = labels
            .iter()
            .map(|(k, v)| Label::from_static_parts(k, v))
            .collect();
        Key::from_parts(name, labels)
    };
    let mut f = Some(f);
    if labels.len() <= MAX_LABELS {
        let _ = KEYS.try_with(|keys| {
            // Busy only if a recorder records through us while registering.
            if let Ok(mut keys) = keys.try_borrow_mut() {
                if let Some(f) = f.take() {
                    f(keys.entry(Id::of(name, labels)).or_insert_with(build));
                }
            }
        });
    }
    // More labels than an id holds, during thread teardown, or re-entered:
    // a key of its own.
    if let Some(f) = f {
        f(&build());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The name and labels of the key `with_key` gives.
    fn shown(name: &'static str, labels: &[(&'static str, &'static str)]) -> String {
        let mut shown = String::new();
        with_key(name, labels, |key| {
            let labels: Vec<String> = key
                .labels()
                .map(|l| format!("{}={}", l.key(), l.value()))
                .collect();
            shown = format!("{} {}", key.name(), labels.join(","));
        });
        shown
    }

    #[test]
    fn one_key_per_name_and_labels() {
        // Statics: one address each, as a metric's name and labels have.
        static M: &str = "m";
        static A: &str = "a";
        static ONE: &str = "1";
        static B: &str = "b";
        static TWO: &str = "2";
        assert_eq!(shown(M, &[(A, ONE), (B, TWO)]), "m a=1,b=2");
        assert_eq!(shown(M, &[(A, ONE)]), "m a=1");
        assert_eq!(shown("n", &[]), "n ");
        assert_eq!(KEYS.with_borrow(|keys| keys.len()), 3);
        assert_eq!(shown(M, &[(A, ONE), (B, TWO)]), "m a=1,b=2");
        assert_eq!(KEYS.with_borrow(|keys| keys.len()), 3);
        // More labels than an id holds: right, and not cached.
        let four = [(A, ONE), (B, TWO), (A, TWO), (B, ONE)];
        assert_eq!(shown(M, &four), "m a=1,b=2,a=2,b=1");
        assert_eq!(KEYS.with_borrow(|keys| keys.len()), 3);
    }
}
