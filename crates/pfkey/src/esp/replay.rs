//! Inbound anti-replay window (RFC 4303 §3.4.3), checked in two phases.
//!
//! [`ReplayWindow::check`] is cheap and runs before any cryptography, so a
//! flood of replays costs no decryption. [`ReplayWindow::accept`] runs only
//! after the ICV verified: forged packets must never move the window
//! (RFC 4303 §3.4.3 last paragraphs).
//!
//! Sequence numbers are held as 64 bits. Without ESN they are the 32-bit
//! wire value; with ESN (RFC 4303 §2.2.1) [`ReplayWindow::infer_esn`]
//! reconstructs the high half from the window as RFC 4303 Appendix A2.2
//! describes, before the ICV (which covers the high half) is checked.
//!
//! The bitmap is a ring of 64-bit words indexed by `seq / 64` (the layout of
//! RFC 6479): advancing the right edge clears whole words instead of
//! shifting the bitmap, so any window size costs the same per packet.

use super::error::ReplayKind;

/// Bits per bitmap word.
const WORD_BITS: u64 = 64;
/// Window used when the SA does not say (RFC 4303 §3.4.3: default 64, a
/// receiver should offer at least 32).
pub const DEFAULT_REPLAY_WINDOW: u32 = 64;
/// Largest window we configure (packets). The bitmap is `size/64 + 1` words.
pub const MAX_REPLAY_WINDOW: u32 = 4096;

/// Sliding anti-replay window over ESP sequence numbers.
///
/// A size of 0 disables the window (RFC 4303 §3.4.3 lets the receiver turn
/// anti-replay off, e.g. for manually keyed SAs); sequence number 0 is still
/// refused, since no sender emits it.
#[derive(Debug)]
pub struct ReplayWindow {
    size: u32,
    /// Highest sequence number accepted so far; 0 = none yet.
    top: u64,
    /// `size / 64 + 1` words; one more than the window needs so the word
    /// holding `top` never shares a slot with the word of `top - size + 1`.
    bitmap: Box<[u64]>,
}

impl ReplayWindow {
    /// A window of `size` packets. Returns `None` above [`MAX_REPLAY_WINDOW`].
    pub fn new(size: u32) -> Option<Self> {
        if size > MAX_REPLAY_WINDOW {
            return None;
        }
        let words = usize::try_from(size.div_ceil(64)).ok()?.checked_add(1)?;
        Some(Self {
            size,
            top: 0,
            bitmap: vec![0u64; words].into_boxed_slice(),
        })
    }

    /// Configured window size in packets.
    pub fn size(&self) -> u32 {
        self.size
    }

    /// Highest sequence number accepted so far (0 before the first).
    pub fn highest(&self) -> u64 {
        self.top
    }

    fn slot(&self, seq: u64) -> (usize, u64) {
        let words = u64::try_from(self.bitmap.len()).unwrap_or(1).max(1);
        let word = usize::try_from((seq / WORD_BITS) % words).unwrap_or(0);
        (word, 1u64 << (seq % WORD_BITS))
    }

    /// RFC 4303 Appendix A2.2: the full 64-bit sequence number that the
    /// received low half `low` most plausibly belongs to, given the window.
    /// `None` when it can only lie before sequence number 1 (too old).
    /// The guess is confirmed by the ICV, which covers the high half.
    pub fn infer_esn(&self, low: u32) -> Option<u64> {
        // A disabled window still needs an edge to guess from: use 1.
        let w = u64::from(self.size.max(1));
        let top_low = self.top & 0xffff_ffff;
        let top_high = self.top >> 32;
        let low = u64::from(low);
        let high = if top_low >= w - 1 {
            // Case A: the window lies within one 2^32 block.
            if low >= top_low - (w - 1) {
                top_high
            } else {
                top_high.checked_add(1)?
            }
        } else {
            // Case B: the window straddles a block boundary; its bottom
            // edge is in the previous block.
            let bottom = (top_low + (1u64 << 32) - (w - 1)) & 0xffff_ffff;
            if low >= bottom {
                top_high.checked_sub(1)?
            } else {
                top_high
            }
        };
        high.checked_mul(1u64 << 32)?.checked_add(low)
    }

    /// Phase one: would `seq` be accepted? Does not change the window.
    pub fn check(&self, seq: u64) -> Result<(), ReplayKind> {
        if seq == 0 {
            return Err(ReplayKind::Zero);
        }
        if self.size == 0 || seq > self.top {
            return Ok(());
        }
        // seq <= top here, so the subtraction cannot wrap.
        if self.top.wrapping_sub(seq) >= u64::from(self.size) {
            return Err(ReplayKind::TooOld);
        }
        let (word, bit) = self.slot(seq);
        match self.bitmap.get(word) {
            Some(w) if w & bit != 0 => Err(ReplayKind::Duplicate),
            _ => Ok(()),
        }
    }

    /// Phase two, after the ICV verified: records `seq`. Re-checks first, so
    /// a caller that skipped [`Self::check`] still cannot accept a replay.
    /// Returns true when `seq` became the new highest sequence number (the
    /// only packets allowed to move a NAT-T peer address, see
    /// [`super::InboundSa`]).
    pub fn accept(&mut self, seq: u64) -> Result<bool, ReplayKind> {
        self.check(seq)?;
        let advanced = seq > self.top;
        if advanced {
            let words = self.bitmap.len().max(1);
            let old_word = self.top / WORD_BITS;
            let new_word = seq / WORD_BITS;
            // Clear the words that the right edge moves into; they hold bits
            // from a full ring ago. More than a ring's worth means all.
            let moved = usize::try_from(new_word.wrapping_sub(old_word)).unwrap_or(usize::MAX);
            if moved >= words {
                self.bitmap.fill(0);
            } else {
                let mut w =
                    usize::try_from(old_word % u64::try_from(words).unwrap_or(1)).unwrap_or(0);
                for _ in 0..moved {
                    w = w.wrapping_add(1) % words;
                    if let Some(slot) = self.bitmap.get_mut(w) {
                        *slot = 0;
                    }
                }
            }
            self.top = seq;
        }
        let (word, bit) = self.slot(seq);
        if let Some(w) = self.bitmap.get_mut(word) {
            *w |= bit;
        }
        Ok(advanced)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_zero_and_too_large_windows() {
        let w = ReplayWindow::new(64).unwrap();
        assert_eq!(w.check(0), Err(ReplayKind::Zero));
        assert!(ReplayWindow::new(MAX_REPLAY_WINDOW + 1).is_none());
        assert!(ReplayWindow::new(MAX_REPLAY_WINDOW).is_some());
    }

    #[test]
    fn window_edges_are_exact() {
        let mut w = ReplayWindow::new(64).unwrap();
        assert_eq!(w.accept(100), Ok(true));
        // 100 - 63 = 37 is the left edge; 36 is outside.
        assert_eq!(w.check(37), Ok(()));
        assert_eq!(w.check(36), Err(ReplayKind::TooOld));
        assert_eq!(w.accept(37), Ok(false));
        assert_eq!(w.check(37), Err(ReplayKind::Duplicate));
        assert_eq!(w.check(100), Err(ReplayKind::Duplicate));
        assert_eq!(w.accept(101), Ok(true));
        assert_eq!(w.check(37), Err(ReplayKind::TooOld));
        assert_eq!(w.check(38), Ok(()));
    }

    #[test]
    fn check_does_not_move_the_window() {
        let mut w = ReplayWindow::new(32).unwrap();
        w.accept(5).unwrap();
        w.check(1_000_000).unwrap();
        assert_eq!(w.highest(), 5);
        assert_eq!(w.check(5), Err(ReplayKind::Duplicate));
    }

    #[test]
    fn large_jump_clears_every_word() {
        let mut w = ReplayWindow::new(1024).unwrap();
        for s in 1..=1024 {
            w.accept(s).unwrap();
        }
        // Jump exactly one ring ahead: the stale bits of 1..=1024 share slots
        // with 1089+ and must not read as duplicates.
        let jump = 1024 + 1088;
        w.accept(jump).unwrap();
        for s in (jump - 1023)..jump {
            assert_eq!(w.check(s), Ok(()), "seq {s}");
        }
        assert_eq!(w.check(jump - 1024), Err(ReplayKind::TooOld));
    }

    #[test]
    fn highest_possible_sequence_number_works() {
        let mut w = ReplayWindow::new(64).unwrap();
        w.accept(u64::from(u32::MAX) - 1).unwrap();
        assert_eq!(w.accept(u64::from(u32::MAX)), Ok(true));
        assert_eq!(w.check(u64::from(u32::MAX)), Err(ReplayKind::Duplicate));
        assert_eq!(w.check(u64::from(u32::MAX) - 2), Ok(()));
    }

    #[test]
    fn esn_inference_follows_rfc4303_appendix_a() {
        let mut w = ReplayWindow::new(64).unwrap();
        // Fresh window, case B with T = 0: low halves near 2^32 would be in
        // block -1, which does not exist.
        assert_eq!(w.infer_esn(5), Some(5));
        assert_eq!(w.infer_esn(u32::MAX), None);
        // Case A inside block 0: below the window means the next block.
        w.accept(1000).unwrap();
        assert_eq!(w.infer_esn(999), Some(999));
        assert_eq!(w.infer_esn(937), Some(937));
        assert_eq!(w.infer_esn(936), Some((1 << 32) + 936));
        // Case B right after crossing into block 1.
        let t = (1u64 << 32) + 10;
        w.accept(t).unwrap();
        assert_eq!(w.infer_esn(u32::MAX), Some(u64::from(u32::MAX)));
        assert_eq!(w.infer_esn(u32::MAX - 52), Some(u64::from(u32::MAX) - 52));
        assert_eq!(w.infer_esn(11), Some(t + 1));
        assert_eq!(w.check(u64::from(u32::MAX) - 52), Ok(()));
        assert_eq!(w.check(u64::from(u32::MAX) - 53), Err(ReplayKind::TooOld));
        // Top of the whole space: nothing after it.
        let mut w = ReplayWindow::new(64).unwrap();
        w.accept(u64::MAX).unwrap();
        assert_eq!(w.infer_esn(0), None);
    }

    #[test]
    fn disabled_window_accepts_anything_but_zero() {
        let mut w = ReplayWindow::new(0).unwrap();
        assert_eq!(w.accept(7), Ok(true));
        assert_eq!(w.accept(7), Ok(false));
        assert_eq!(w.accept(1), Ok(false));
        assert_eq!(w.check(0), Err(ReplayKind::Zero));
    }
}
