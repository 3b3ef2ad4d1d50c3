//! One pass over the bytes, counting what drives a BPE token count.

/// Byte classes.
const LETTER: u8 = 0;
const DIGIT: u8 = 1;
const SPACE: u8 = 2;
const NEWLINE: u8 = 3;
const PUNCT: u8 = 4;
/// Lead byte of a 2-, 3- or 4-byte UTF-8 character.
const LEAD2: u8 = 5;
const LEAD3: u8 = 6;
const LEAD4: u8 = 7;
/// Continuation or invalid byte: skipped (counted with its lead).
const CONT: u8 = 8;

const CLASS: [u8; 256] = {
    let mut t = [CONT; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        t[b] = match c {
            b'a'..=b'z' | b'A'..=b'Z' => LETTER,
            b'0'..=b'9' => DIGIT,
            b' ' | b'\t' => SPACE,
            b'\n' | b'\r' => NEWLINE,
            0x00..=0x7f => PUNCT,
            0xc2..=0xdf => LEAD2,
            0xe0..=0xef => LEAD3,
            0xf0..=0xf4 => LEAD4,
            _ => CONT,
        };
        b += 1;
    }
    t
};

/// Letters a word may have and still be one token, on average.
const SHORT_WORD: u64 = 6;

/// Feature counts of a text.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Features {
    pub bytes: u64,
    /// Runs of ASCII letters.
    pub words: u64,
    /// Letters past the sixth in each word (long words split into several tokens).
    pub long_word_letters: u64,
    /// Digit runs in groups of three (both encodings split numbers that way).
    pub digit_groups: u64,
    /// ASCII punctuation and symbols.
    pub punct: u64,
    /// Runs of two or more spaces/tabs (indentation); a single space joins the next word.
    pub space_runs: u64,
    pub newlines: u64,
    /// Three-byte characters: CJK ideographs, kana, Hangul, CJK punctuation.
    pub cjk: u64,
    /// Two-byte characters: accented Latin, Cyrillic, Greek, Arabic, Hebrew.
    pub other: u64,
    /// Four-byte characters: emoji, rare ideographs.
    pub wide: u64,
}

impl Features {
    pub fn count(text: &[u8]) -> Features {
        let mut f = Features {
            bytes: text.len() as u64,
            ..Features::default()
        };
        let n = text.len();
        let mut i = 0;
        while i < n {
            let class = CLASS[text[i] as usize];
            match class {
                LETTER | DIGIT | SPACE => {
                    let start = i;
                    i += 1;
                    while i < n && CLASS[text[i] as usize] == class {
                        i += 1;
                    }
                    let len = (i - start) as u64;
                    match class {
                        LETTER => {
                            f.words += 1;
                            f.long_word_letters += len.saturating_sub(SHORT_WORD);
                        }
                        DIGIT => f.digit_groups += len.div_ceil(3),
                        _ => f.space_runs += u64::from(len > 1),
                    }
                    continue;
                }
                NEWLINE => f.newlines += u64::from(text[i] == b'\n'),
                PUNCT => f.punct += 1,
                LEAD2 => f.other += 1,
                LEAD3 => f.cjk += 1,
                LEAD4 => f.wide += 1,
                _ => {}
            }
            i += 1;
        }
        f
    }

    pub fn add(&mut self, other: &Features) {
        self.bytes += other.bytes;
        self.words += other.words;
        self.long_word_letters += other.long_word_letters;
        self.digit_groups += other.digit_groups;
        self.punct += other.punct;
        self.space_runs += other.space_runs;
        self.newlines += other.newlines;
        self.cjk += other.cjk;
        self.other += other.other;
        self.wide += other.wide;
    }

    /// The counts as a vector, in the order of [`crate::Weights`]'s fields.
    pub fn as_array(&self) -> [u64; 9] {
        [
            self.words,
            self.long_word_letters,
            self.digit_groups,
            self.punct,
            self.space_runs,
            self.newlines,
            self.cjk,
            self.other,
            self.wide,
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_each_class() {
        let f = Features::count("Hello, internationalization 12345\n    x 中文 café 😀".as_bytes());
        // Hello, internationalization, x, caf (é is not ASCII).
        assert_eq!(f.words, 4);
        assert_eq!(f.long_word_letters, "internationalization".len() as u64 - 6);
        assert_eq!(f.digit_groups, 2);
        assert_eq!(f.punct, 1);
        assert_eq!(f.space_runs, 1);
        assert_eq!(f.newlines, 1);
        assert_eq!(f.cjk, 2);
        assert_eq!(f.other, 1);
        assert_eq!(f.wide, 1);
    }

    #[test]
    fn invalid_utf8_does_not_panic() {
        let f = Features::count(&[0xff, 0xe4, 0xb8, 0x80, 0x80, 0xc3]);
        assert_eq!(f.cjk, 1);
        assert_eq!(f.other, 1);
    }
}
