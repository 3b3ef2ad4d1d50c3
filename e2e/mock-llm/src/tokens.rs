//! The mock's one notion of a "token": a short piece of text. Streaming sends one piece per content
//! delta and usage counts pieces, so streamed and non-streamed answers always report the same usage.

/// Longest run of word characters kept in one piece, so long words still stream in several deltas.
const MAX_WORD_CHARS: usize = 6;

/// Splits `text` into pieces whose concatenation is exactly `text`.
///
/// A piece is any leading whitespace followed by either up to six alphanumeric characters or one
/// other character; trailing whitespace forms a piece of its own.
pub fn pieces(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let len = piece_len(rest);
        out.push(&rest[..len]);
        rest = &rest[len..];
    }
    out
}

/// Number of pieces in `text`, the mock's token count.
pub fn count(text: &str) -> usize {
    let mut n = 0;
    let mut rest = text;
    while !rest.is_empty() {
        rest = &rest[piece_len(rest)..];
        n += 1;
    }
    n
}

fn piece_len(s: &str) -> usize {
    let mut chars = s.char_indices().peekable();
    while let Some(&(_, c)) = chars.peek() {
        if !c.is_whitespace() {
            break;
        }
        chars.next();
    }
    let Some(&(start, first)) = chars.peek() else {
        return s.len();
    };
    if !first.is_alphanumeric() {
        return start + first.len_utf8();
    }
    let mut end = start;
    for (taken, (i, c)) in chars.enumerate() {
        if taken == MAX_WORD_CHARS || !c.is_alphanumeric() {
            break;
        }
        end = i + c.len_utf8();
    }
    end
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_concatenate_back_to_the_input() {
        for text in [
            "",
            " ",
            "Hello, world!",
            "  spaced   out  ",
            "héllo wörld 日本語テキスト",
            "a\n\nb",
        ] {
            assert_eq!(pieces(text).concat(), text);
            assert_eq!(pieces(text).len(), count(text));
        }
    }

    #[test]
    fn words_punctuation_and_long_words_split_as_documented() {
        assert_eq!(pieces("Hello, world!"), ["Hello", ",", " world", "!"]);
        assert_eq!(
            pieces("internationalization"),
            ["intern", "ationa", "lizati", "on"]
        );
        assert_eq!(pieces("a  "), ["a", "  "]);
        assert_eq!(count(""), 0);
    }
}
