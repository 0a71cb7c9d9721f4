//! The random numbers of training (split, shuffles): wyrand, written out so that a seed gives the
//! same model on every platform and with every version of every dependency.

/// A small, fast generator with a 64-bit state; plenty for shuffling.
#[derive(Clone, Debug)]
pub struct Rng {
    state: u64,
}

impl Rng {
    /// The generator for `seed`, and for `stream` within it (independent uses of one seed).
    pub fn new(seed: u64, stream: u64) -> Self {
        let mut rng = Rng { state: seed ^ stream.wrapping_mul(0xD6E8_FEB8_6659_FD93) };
        rng.next_u64(); // so that nearby seeds do not start with nearby outputs
        rng
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0xA076_1D64_78BD_642F);
        let product = u128::from(self.state) * u128::from(self.state ^ 0xE703_7ED1_A0B4_28DB);
        (product as u64) ^ ((product >> 64) as u64)
    }

    /// A number in `0..bound` (`bound > 0`), by Lemire's multiply-shift; its bias, below
    /// `bound / 2⁶⁴`, is immaterial here.
    pub fn below(&mut self, bound: usize) -> usize {
        ((u128::from(self.next_u64()) * bound as u128) >> 64) as usize
    }

    /// Shuffles `items` in place (Fisher–Yates).
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            items.swap(i, self.below(i + 1));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Rng;

    #[test]
    fn same_seed_same_stream_and_shuffles_are_permutations() {
        let draw = |seed, stream| (0..4).map(|_| Rng::new(seed, stream).next_u64()).collect::<Vec<_>>();
        assert_eq!(draw(1, 0), draw(1, 0));
        assert_ne!(Rng::new(1, 0).next_u64(), Rng::new(1, 1).next_u64());
        assert_ne!(Rng::new(1, 0).next_u64(), Rng::new(2, 0).next_u64());
        let mut items: Vec<usize> = (0..100).collect();
        Rng::new(5, 0).shuffle(&mut items);
        assert_ne!(items, (0..100).collect::<Vec<_>>());
        items.sort_unstable();
        assert_eq!(items, (0..100).collect::<Vec<_>>());
        let mut rng = Rng::new(9, 3);
        assert!((0..1000).all(|_| rng.below(7) < 7));
    }
}
