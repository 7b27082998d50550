//! The anti-replay window against a plain reference model (a set of every
//! accepted number plus the highest), RFC 4303 §3.4.3, over random traces
//! that mix in-order, reordered, duplicated, far-ahead and stale numbers.
// Helpers outside #[test] fns build fixtures; panicking there is a test failure.
#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::cast_possible_truncation,
    clippy::panic
)]

use std::collections::HashSet;

use pfkey::esp::{ReplayKind, ReplayWindow};
use proptest::prelude::*;

struct Model {
    size: u32,
    seen: HashSet<u64>,
    highest: u64,
}

impl Model {
    fn check(&self, seq: u64) -> Result<(), ReplayKind> {
        if seq == 0 {
            return Err(ReplayKind::Zero);
        }
        if seq > self.highest {
            return Ok(());
        }
        if self.highest - seq >= u64::from(self.size) {
            return Err(ReplayKind::TooOld);
        }
        if self.seen.contains(&seq) {
            return Err(ReplayKind::Duplicate);
        }
        Ok(())
    }

    fn accept(&mut self, seq: u64) -> Result<bool, ReplayKind> {
        self.check(seq)?;
        self.seen.insert(seq);
        let advanced = seq > self.highest;
        self.highest = self.highest.max(seq);
        Ok(advanced)
    }
}

/// One step: a delta from the current highest (negative = older) or an
/// absolute value, and whether the packet "authenticates" (only then is
/// `accept` called, as the SA does).
#[derive(Debug, Clone)]
enum Step {
    Relative(i64, bool),
    Absolute(u32, bool),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        6 => (-1100i64..70, any::<bool>()).prop_map(|(d, a)| Step::Relative(d, a)),
        1 => (-5000i64..5000, any::<bool>()).prop_map(|(d, a)| Step::Relative(d, a)),
        1 => (any::<u32>(), any::<bool>()).prop_map(|(s, a)| Step::Absolute(s, a)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn window_agrees_with_the_reference_model(
        size in prop_oneof![Just(1u32), Just(32), Just(64), Just(65), Just(100), Just(128),
                            Just(1000), Just(1024), Just(4096)],
        steps in proptest::collection::vec(step(), 1..600),
    ) {
        let mut w = ReplayWindow::new(size).unwrap();
        let mut m = Model { size, seen: HashSet::new(), highest: 0 };
        for s in steps {
            let (seq, authentic) = match s {
                Step::Relative(d, a) => {
                    let v = i64::try_from(m.highest).unwrap() + d;
                    (u64::try_from(v.clamp(0, i64::from(u32::MAX))).unwrap(), a)
                }
                Step::Absolute(v, a) => (u64::from(v), a),
            };
            prop_assert_eq!(w.check(seq), m.check(seq), "check {}", seq);
            if authentic {
                prop_assert_eq!(w.accept(seq), m.accept(seq), "accept {}", seq);
            }
            prop_assert_eq!(w.highest(), m.highest);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// ESN (RFC 4303 Appendix A): the receiver sees only the low 32 bits.
    /// Whenever the true number lies in [T − W + 1, T + 2^32 − W], the
    /// inferred one must be it; the window must then agree with the model.
    /// Other guesses stand for packets whose ICV fails (the high half is
    /// authenticated), so they never reach `accept`. Traces start just
    /// below a 2^32 boundary so that they cross it.
    #[test]
    fn esn_inference_and_window_agree_with_the_model(
        size in prop_oneof![Just(1u32), Just(32), Just(64), Just(1024)],
        block in 0u64..3,
        start_below in 1u64..3000,
        steps in proptest::collection::vec((-1200i64..2000, any::<bool>()), 1..400),
    ) {
        let start = ((block + 1) << 32) - start_below;
        let mut w = ReplayWindow::new(size).unwrap();
        let mut m = Model { size, seen: HashSet::new(), highest: 0 };
        prop_assert_eq!(w.accept(start), m.accept(start));
        for (d, authentic) in steps {
            let Ok(seq) = u64::try_from(i64::try_from(m.highest).unwrap() + d) else { continue };
            let low = u32::try_from(seq & 0xffff_ffff).unwrap();
            let guess = w.infer_esn(low);
            let t = m.highest;
            let w64 = u64::from(size);
            if seq + w64 > t && seq <= t + (1u64 << 32) - w64 {
                prop_assert_eq!(guess, Some(seq), "low {} top {}", low, t);
            }
            if guess == Some(seq) {
                prop_assert_eq!(w.check(seq), m.check(seq), "check {}", seq);
                if authentic {
                    prop_assert_eq!(w.accept(seq), m.accept(seq), "accept {}", seq);
                }
            } else if let Some(g) = guess {
                // A wrong guess is either refused by the window outright or
                // would fail the ICV; it must never be the true number.
                prop_assert_ne!(g, seq);
            }
            prop_assert_eq!(w.highest(), m.highest);
        }
    }
}

#[test]
fn every_position_of_a_1024_window_is_tracked() {
    let mut w = ReplayWindow::new(1024).unwrap();
    w.accept(5000).unwrap();
    // Accept every other number in the window, then check all of them.
    for s in (5000 - 1023..5000).step_by(2) {
        w.accept(s).unwrap();
    }
    for s in 5000 - 1023..5000 {
        let expect = if (s - (5000 - 1023)) % 2 == 0 {
            Err(ReplayKind::Duplicate)
        } else {
            Ok(())
        };
        assert_eq!(w.check(s), expect, "seq {s}");
    }
    assert_eq!(w.check(5000 - 1024), Err(ReplayKind::TooOld));
}

#[test]
fn default_window_is_64() {
    assert_eq!(pfkey::esp::DEFAULT_REPLAY_WINDOW, 64);
    assert!(ReplayWindow::new(pfkey::esp::MAX_REPLAY_WINDOW).is_some());
}
