//! Optional verification of a semantic candidate (`verify.enabled`): embeddings put "is X" and
//! "is not X", "5 apples" and "6 apples", "capital of France" and "capital of Spain" very close,
//! so a candidate whose salient tokens differ from the query is rejected whatever its similarity.
//!
//! Salient tokens: numbers (digit runs, with decimal point), negations (English and Chinese), and
//! names (capitalised words that do not start a sentence, Latin script). The sets must be equal
//! (negations: the parity of their count, so "not" vs "never" still agree).

use std::collections::BTreeSet;

const NEGATIONS: [&str; 12] = [
    "not", "no", "never", "none", "nothing", "nobody", "neither", "nor", "without", "cannot",
    "isn't", "don't",
];
const CJK_NEGATIONS: [char; 5] = ['不', '没', '非', '无', '未'];

#[derive(Debug, Default, PartialEq, Eq)]
struct Salient {
    numbers: BTreeSet<String>,
    names: BTreeSet<String>,
    negations: usize,
}

fn salient(text: &str) -> Salient {
    let mut s = Salient::default();
    let mut sentence_start = true;
    for raw in text.split(|c: char| c.is_whitespace()) {
        let word = raw.trim_matches(|c: char| !c.is_alphanumeric() && c != '.' && c != '\'');
        let word = word.trim_end_matches('.');
        if word.is_empty() {
            sentence_start |= raw.ends_with(['.', '?', '!']);
            continue;
        }
        let lower = word.to_lowercase();
        if NEGATIONS.contains(&lower.as_str()) || lower.ends_with("n't") {
            s.negations += 1;
        }
        s.negations += word.chars().filter(|c| CJK_NEGATIONS.contains(c)).count();
        let mut digits = String::new();
        for c in word.chars() {
            if c.is_ascii_digit() || (c == '.' && !digits.is_empty()) {
                digits.push(c);
            } else if !digits.is_empty() {
                s.numbers.insert(digits.trim_end_matches('.').to_string());
                digits.clear();
            }
        }
        if !digits.is_empty() {
            s.numbers.insert(digits.trim_end_matches('.').to_string());
        }
        let capitalised = word.chars().next().is_some_and(char::is_uppercase);
        if capitalised && !sentence_start && lower != "i" {
            s.names.insert(lower);
        }
        sentence_start = raw.ends_with(['.', '?', '!', ':']);
    }
    s
}

/// Whether `candidate` (a cached question) may answer `query`.
pub fn compatible(query: &str, candidate: &str) -> bool {
    let (q, c) = (salient(query), salient(candidate));
    q.numbers == c.numbers && q.names == c.names && q.negations % 2 == c.negations % 2
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paraphrases_pass() {
        assert!(compatible(
            "How do I reverse a list in Python?",
            "What is the way to reverse a list in Python"
        ));
        assert!(compatible("what is 2 + 2?", "What's 2+ 2"));
    }

    #[test]
    fn numbers_must_match() {
        assert!(!compatible(
            "Convert 5 miles to km",
            "Convert 6 miles to km"
        ));
        assert!(!compatible(
            "What happened in 1989?",
            "What happened in 1998?"
        ));
        assert!(!compatible("x + 2.5", "x + 2"));
    }

    #[test]
    fn negation_must_match() {
        assert!(!compatible(
            "Is coffee good for health?",
            "Is coffee not good for health?"
        ));
        assert!(!compatible("why can't I sleep", "why can I sleep"));
        assert!(!compatible("这个药安全吗", "这个药不安全吗"));
        assert!(compatible("I do not like it", "I never like it"));
    }

    #[test]
    fn names_must_match() {
        assert!(!compatible(
            "What is the capital of France?",
            "What is the capital of Spain?"
        ));
        assert!(!compatible("Who founded Apple?", "Who founded Microsoft?"));
        // A capital at the start of a sentence is not a name.
        assert!(compatible(
            "Tell me a joke. Make it short",
            "tell me a joke. make it short"
        ));
    }
}
