//! A fast estimate of how many BPE tokens (OpenAI `o200k_base` / `cl100k_base`, and tokenizers that
//! behave like them) a text has, without a vocabulary: one pass over the bytes counts a few features
//! (words, letters, digit groups, punctuation, whitespace runs, CJK and other non-ASCII characters)
//! and a linear model weighs them. The weights were fitted against the real tokenizers on English,
//! Chinese and code (see `tests/accuracy.rs`, which re-measures the error on every run).
//!
//! Used by token-rate-limit to reserve a prompt's tokens before the call and to count a streamed
//! answer whose provider sent no usage.

mod features;

pub use features::Features;

/// Which tokenizer family to imitate.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Encoding {
    /// GPT-4o / o-series and most 2025+ models: larger vocabulary, about one token per CJK char.
    #[default]
    O200k,
    /// GPT-4 / GPT-3.5: Chinese costs more tokens per character.
    Cl100k,
}

/// Weights of the linear model, in thousandths of a token per feature occurrence.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Weights {
    pub word: u32,
    pub long_word_letter: u32,
    pub digit_group: u32,
    pub punct: u32,
    pub space_run: u32,
    pub newline: u32,
    pub cjk: u32,
    pub other: u32,
    pub wide: u32,
}

impl Encoding {
    /// The fitted weights (`tests/accuracy.rs -- --ignored fit` prints a fresh fit).
    pub const fn weights(self) -> Weights {
        match self {
            Encoding::O200k => Weights {
                word: 1061,
                long_word_letter: 59,
                digit_group: 1459,
                punct: 499,
                space_run: 401,
                newline: 439,
                cjk: 801,
                other: 476,
                wide: 1550,
            },
            Encoding::Cl100k => Weights {
                word: 1077,
                long_word_letter: 58,
                digit_group: 1405,
                punct: 474,
                space_run: 438,
                newline: 491,
                cjk: 1129,
                other: 739,
                wide: 2058,
            },
        }
    }
}

impl Weights {
    /// The estimate for counted features, rounded up, at least 1 for a non-empty text.
    pub fn apply(&self, f: &Features) -> u64 {
        let milli = f.words * u64::from(self.word)
            + f.long_word_letters * u64::from(self.long_word_letter)
            + f.digit_groups * u64::from(self.digit_group)
            + f.punct * u64::from(self.punct)
            + f.space_runs * u64::from(self.space_run)
            + f.newlines * u64::from(self.newline)
            + f.cjk * u64::from(self.cjk)
            + f.other * u64::from(self.other)
            + f.wide * u64::from(self.wide);
        let tokens = milli.div_ceil(1000);
        if tokens == 0 && f.bytes > 0 {
            1
        } else {
            tokens
        }
    }
}

/// Estimated tokens of `text` for `encoding`.
pub fn estimate_with(text: &[u8], encoding: Encoding) -> u64 {
    encoding.weights().apply(&Features::count(text))
}

/// Estimated `o200k_base` tokens of `text` (UTF-8; invalid bytes count as other characters).
pub fn estimate(text: &[u8]) -> u64 {
    estimate_with(text, Encoding::O200k)
}

/// Incremental counting for text that arrives in pieces (e.g. streamed deltas). Pieces are
/// counted independently, so a word split across two pieces counts as two: deltas usually break
/// at token boundaries, which makes this close to counting the joined text.
#[derive(Clone, Debug, Default)]
pub struct Counter {
    features: Features,
    encoding: Encoding,
}

impl Counter {
    pub fn new(encoding: Encoding) -> Counter {
        Counter {
            features: Features::default(),
            encoding,
        }
    }

    pub fn add(&mut self, text: &[u8]) {
        self.features.add(&Features::count(text));
    }

    pub fn tokens(&self) -> u64 {
        self.encoding.weights().apply(&self.features)
    }

    pub fn is_empty(&self) -> bool {
        self.features.bytes == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_is_zero_and_any_text_at_least_one() {
        assert_eq!(estimate(b""), 0);
        // Rounded up: a reservation errs on the high side by less than one token.
        assert_eq!(estimate(b"a"), 2);
        assert_eq!(estimate(b" "), 1);
    }

    #[test]
    fn chinese_costs_more_under_cl100k() {
        let text = "今天天气很好，我们去公园散步吧。".as_bytes();
        assert!(estimate_with(text, Encoding::Cl100k) > estimate_with(text, Encoding::O200k));
    }

    #[test]
    fn counter_adds_pieces() {
        let mut c = Counter::new(Encoding::O200k);
        assert!(c.is_empty());
        c.add(b"Hello there, ");
        c.add(b"general Kenobi.");
        let joined = estimate(b"Hello there, general Kenobi.");
        assert!(
            c.tokens().abs_diff(joined) <= 1,
            "{} vs {joined}",
            c.tokens()
        );
    }

    #[test]
    fn grows_linearly_with_repetition() {
        let one = estimate(b"The quick brown fox jumps over the lazy dog. ");
        let ten = estimate(
            "The quick brown fox jumps over the lazy dog. "
                .repeat(10)
                .as_bytes(),
        );
        assert!(ten >= one * 9 && ten <= one * 11, "{one} {ten}");
    }
}
