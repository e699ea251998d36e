//! The minutes of a lane's succeeded optimization jobs, as a bitmap: one bit per minute of
//! scheduled time from a base minute, trimmed to the job retention. It replaces a succeeded
//! job's row (`super::compact`): a job shard keeps one such set per customer, about 2.7 KB
//! at 15 days of retention, instead of one row per job (7,200 rows per customer at a sweep
//! every 3 minutes).

/// A set of minutes (epoch minutes) within a window of the newest.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DoneSet {
    /// The minute of bit 0 of `bits[0]`.
    base: i64,
    /// Bit `i % 8` of byte `i / 8`: minute `base + i`.
    bits: Vec<u8>,
}

impl DoneSet {
    pub fn is_empty(&self) -> bool {
        self.bits.iter().all(|b| *b == 0)
    }

    pub fn contains(&self, minute: i64) -> bool {
        let Some(i) = self.index(minute) else { return false };
        self.bits[i / 8] & (1 << (i % 8)) != 0
    }

    /// The newest minute in the set.
    pub fn newest(&self) -> Option<i64> {
        let (at, byte) = self.bits.iter().enumerate().rev().find(|(_, b)| **b != 0)?;
        Some(self.base + (at * 8) as i64 + (7 - byte.leading_zeros()) as i64)
    }

    /// Adds `minute`, keeping only the `keep` minutes up to the newest. Answers `false` (and
    /// changes nothing) for a minute already older than that window: its job keeps its row.
    pub fn insert(&mut self, minute: i64, keep: i64) -> bool {
        let newest = self.newest().map_or(minute, |n| n.max(minute));
        if minute <= newest - keep {
            return false;
        }
        if self.is_empty() {
            self.base = minute;
            self.bits = vec![0];
        }
        if minute < self.base {
            let bytes = ((self.base - minute + 7) / 8) as usize;
            self.bits.splice(0..0, std::iter::repeat_n(0, bytes));
            self.base -= (bytes * 8) as i64;
        }
        let i = (minute - self.base) as usize;
        if i / 8 >= self.bits.len() {
            self.bits.resize(i / 8 + 1, 0);
        }
        self.bits[i / 8] |= 1 << (i % 8);
        // Whole bytes that lie entirely before the window go.
        let oldest_kept = newest - keep + 1;
        let drop = (((oldest_kept - self.base) / 8).max(0) as usize).min(self.bits.len().saturating_sub(1));
        self.bits.drain(..drop);
        self.base += (drop * 8) as i64;
        true
    }

    fn index(&self, minute: i64) -> Option<usize> {
        let i = usize::try_from(minute.checked_sub(self.base)?).ok()?;
        (i / 8 < self.bits.len()).then_some(i)
    }

    /// The stored form: `{base}:{hex of the bits}`, or empty.
    pub fn encode(&self) -> String {
        if self.is_empty() {
            return String::new();
        }
        let mut out = format!("{}:", self.base);
        for b in &self.bits {
            out.push_str(&format!("{b:02x}"));
        }
        out
    }

    /// Reads [`Self::encode`]'s form; `None` for anything else.
    pub fn decode(raw: &str) -> Option<Self> {
        if raw.is_empty() {
            return Some(Self::default());
        }
        let (base, hex) = raw.split_once(':')?;
        if hex.is_empty() || hex.len() % 2 != 0 {
            return None;
        }
        let bits = (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok()).collect::<Option<Vec<u8>>>()?;
        Some(Self { base: base.parse().ok()?, bits })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minutes_are_kept_within_the_window_and_survive_encoding() {
        let keep = 60;
        let mut set = DoneSet::default();
        assert!(set.is_empty() && set.encode().is_empty() && !set.contains(5));
        for m in [1_000, 1_003, 1_006, 999, 1_020] {
            assert!(set.insert(m, keep), "{m}");
        }
        for m in [999, 1_000, 1_003, 1_006, 1_020] {
            assert!(set.contains(m), "{m}");
        }
        assert!(!set.contains(1_001) && !set.contains(998) && !set.contains(1_021));
        assert_eq!(set.newest(), Some(1_020));
        assert_eq!(DoneSet::decode(&set.encode()), Some(set.clone()));
        // Far newer: the old minutes fall out of the window, byte by byte.
        assert!(set.insert(1_100, keep));
        assert!(set.contains(1_100) && !set.contains(1_000) && !set.contains(1_020));
        assert!(set.encode().len() <= 2 + 5 + 2 * (keep as usize / 8 + 2), "{}", set.encode());
        // Older than the window: refused, nothing changes.
        let before = set.clone();
        assert!(!set.insert(1_100 - keep, keep));
        assert_eq!(set, before);
        assert!(set.insert(1_100 - keep + 1, keep) && set.contains(1_041));
        assert_eq!(DoneSet::decode(&set.encode()), Some(set));
    }

    #[test]
    fn a_full_retention_of_sweeps_fits_a_few_kilobytes() {
        let keep = 15 * 24 * 60;
        let mut set = DoneSet::default();
        for sweep in 0..(2 * keep / 3) {
            assert!(set.insert(29_000_000 + 3 * sweep, keep));
        }
        assert_eq!((0..keep).filter(|m| set.contains(29_000_000 + 3 * (2 * keep / 3 - 1) - m)).count() as i64, keep / 3);
        assert!(set.encode().len() < 5_500, "{}", set.encode().len());
    }

    #[test]
    fn malformed_sets_are_refused() {
        for raw in ["x", "12", "12:", "12:0", "12:zz", "a:00"] {
            assert_eq!(DoneSet::decode(raw), None, "{raw}");
        }
        assert_eq!(DoneSet::decode("-4:01").map(|s| s.contains(-4)), Some(true));
    }
}
