//! Failure statuses as Higress writes them (`429`, `5.*`, `50[234]`), but anchored: Higress's
//! `MatchStatus` uses unanchored `regexp.MatchString`, so its `4.*` also matches 504 and 304.

use regex::Regex;

#[derive(Debug, Default)]
pub struct StatusPatterns {
    patterns: Vec<Regex>,
}

impl StatusPatterns {
    /// Compiles each pattern as `^(?:pattern)$`; on error, the index and reason.
    pub fn compile(patterns: &[String]) -> Result<StatusPatterns, (usize, String)> {
        let patterns = patterns
            .iter()
            .enumerate()
            .map(|(i, p)| {
                if p.is_empty() {
                    return Err((i, "empty pattern".to_string()));
                }
                Regex::new(&format!("^(?:{p})$")).map_err(|e| (i, e.to_string()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(StatusPatterns { patterns })
    }

    pub fn matches(&self, status: u16) -> bool {
        let s = status.to_string();
        self.patterns.iter().any(|p| p.is_match(&s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(list: &[&str]) -> StatusPatterns {
        StatusPatterns::compile(&list.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap()
    }

    #[test]
    fn patterns_are_anchored_unlike_higress() {
        let four = p(&["4.*"]);
        assert!(four.matches(429) && four.matches(400));
        assert!(!four.matches(504), "unanchored 4.* would match 504");
        assert!(!four.matches(304));
        let some = p(&["429", "50[234]"]);
        assert!(some.matches(429) && some.matches(503));
        assert!(!some.matches(500) && !some.matches(4290 % 1000));
    }

    #[test]
    fn bad_pattern_reports_its_index() {
        let e = StatusPatterns::compile(&["429".into(), "(".into()]).unwrap_err();
        assert_eq!(e.0, 1);
        assert_eq!(StatusPatterns::compile(&["".into()]).unwrap_err().0, 0);
    }
}
