//! Test-only generation of topic names and filters.

/// Deterministic generation of topic names and filters for cross-check tests
/// of the tree structures against [`crate::broker::topic::matches`].
pub(crate) mod test_support {
    use crate::broker::topic::{validate_filter, validate_topic_name};

    /// A SplitMix64 pseudo-random generator: same seed, same sequence.
    pub(crate) struct Generator(u64);

    impl Generator {
        pub(crate) fn new(seed: u64) -> Self {
            Generator(seed)
        }

        /// A pseudo-random number in `0..n`.
        pub(crate) fn below(&mut self, n: usize) -> usize {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^= z >> 31;
            (z % n as u64) as usize
        }

        /// A valid topic name of 1 to 4 levels drawn from a small alphabet,
        /// so that names collide often and empty and `$` levels are common.
        pub(crate) fn topic(&mut self) -> String {
            loop {
                let name = self.levels(&["a", "b", "$x", ""]);
                if validate_topic_name(&name).is_ok() {
                    return name;
                }
            }
        }

        /// A valid filter over the same alphabet as [`Self::topic`], with `+`
        /// levels and sometimes a trailing `#`.
        pub(crate) fn filter(&mut self) -> String {
            loop {
                let mut filter = self.levels(&["a", "b", "$x", "", "+"]);
                if self.below(12) == 0 {
                    filter = "#".to_owned();
                } else if self.below(3) == 0 {
                    filter.push_str("/#");
                }
                if validate_filter(&filter).is_ok() {
                    return filter;
                }
            }
        }

        fn levels(&mut self, alphabet: &[&str]) -> String {
            let count = 1 + self.below(4);
            let levels: Vec<&str> = (0..count)
                .map(|_| alphabet[self.below(alphabet.len())])
                .collect();
            levels.join("/")
        }
    }
}
