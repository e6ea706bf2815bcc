//! A tiny deterministic random number generator (SplitMix64) for tablet and document ids and
//! fault probabilities.
//!
//! The emulator must be reproducible from `EmulatorConfig::seed` (spec §18.1), so it never reads
//! the operating system's entropy.

/// SplitMix64: small, fast and good enough for id generation.
#[derive(Clone, Debug)]
pub(crate) struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    /// A generator seeded with `seed`.
    pub(crate) fn new(seed: u64) -> Self {
        SplitMix64 { state: seed }
    }

    /// The next 64 random bits.
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// 16 random bytes that are never all zero (all-zero is reserved for the "minimum id" of a
    /// tablet, used by list_snapshot's table-boundary cursor).
    pub(crate) fn next_id_bytes(&mut self) -> [u8; 16] {
        loop {
            let mut out = [0u8; 16];
            out[..8].copy_from_slice(&self.next_u64().to_be_bytes());
            out[8..].copy_from_slice(&self.next_u64().to_be_bytes());
            if out != [0u8; 16] {
                return out;
            }
        }
    }

    /// A uniform float in `[0, 1)`.
    pub(crate) fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// A number in `0..n` (`n > 0`).
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next_u64() % n }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic() {
        let mut a = SplitMix64::new(7);
        let mut b = SplitMix64::new(7);
        assert_eq!(a.next_id_bytes(), b.next_id_bytes());
        assert_ne!(a.next_u64(), SplitMix64::new(8).next_u64());
    }
}
