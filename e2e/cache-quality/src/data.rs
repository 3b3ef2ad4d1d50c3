//! The labelled question pairs: QQP dev (`{"text_a","text_b","label"}` per line; label 1 = same
//! question) and GPTCache's paraphrase benchmark (`[{"origin","similar"}]`, every pair a paraphrase).
//! Both live in the project's shared data directory, which is not part of the repository.

use std::path::{Path, PathBuf};

use serde::Deserialize;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pair {
    /// The cached question.
    pub cached: String,
    /// The question asked afterwards.
    pub asked: String,
    /// Whether `asked` means the same as `cached`.
    pub same: bool,
}

pub const QQP_FILE: &str = "qqp-dev.jsonl";
pub const GPTCACHE_FILE: &str = "gptcache-paraphrase.json";

/// `$CACHE_QUALITY_DATA`, else the `shared/data` directory beside the repository checkout.
pub fn default_dir() -> PathBuf {
    std::env::var_os("CACHE_QUALITY_DATA").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"),
        PathBuf::from,
    )
}

#[derive(Deserialize)]
struct QqpLine {
    text_a: String,
    text_b: String,
    label: u8,
}

#[derive(Deserialize)]
struct GptCachePair {
    origin: String,
    similar: String,
}

/// The first `limit` QQP pairs.
pub fn qqp(dir: &Path, limit: usize) -> Result<Vec<Pair>, String> {
    let path = dir.join(QQP_FILE);
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .take(limit)
        .enumerate()
        .map(|(i, line)| {
            let l: QqpLine = serde_json::from_str(line)
                .map_err(|e| format!("{}:{}: {e}", path.display(), i + 1))?;
            Ok(Pair {
                cached: l.text_a,
                asked: l.text_b,
                same: l.label == 1,
            })
        })
        .collect()
}

/// The first `limit` GPTCache pairs.
pub fn gptcache(dir: &Path, limit: usize) -> Result<Vec<Pair>, String> {
    let path = dir.join(GPTCACHE_FILE);
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let pairs: Vec<GptCachePair> =
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(pairs
        .into_iter()
        .take(limit)
        .map(|p| Pair {
            cached: p.origin,
            asked: p.similar,
            same: true,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_both_formats_and_honours_the_limit() {
        let dir = std::env::temp_dir().join(format!("cache-quality-data-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join(QQP_FILE),
            "{\"text_a\":\"a?\",\"text_b\":\"b?\",\"label\":1}\n\
             {\"text_a\":\"c?\",\"text_b\":\"d?\",\"label\":0}\n\n",
        )
        .unwrap();
        std::fs::write(
            dir.join(GPTCACHE_FILE),
            r#"[{"origin":"x","similar":"y"},{"origin":"z","similar":"w"}]"#,
        )
        .unwrap();
        let q = qqp(&dir, 10).unwrap();
        assert_eq!(q.len(), 2);
        assert_eq!((q[0].same, q[1].same), (true, false));
        assert_eq!(q[1].cached, "c?");
        assert_eq!(qqp(&dir, 1).unwrap().len(), 1);
        let g = gptcache(&dir, 10).unwrap();
        assert_eq!(
            g[1],
            Pair {
                cached: "z".into(),
                asked: "w".into(),
                same: true
            }
        );
        std::fs::write(dir.join(QQP_FILE), "{\"text_a\":1}\n").unwrap();
        assert!(qqp(&dir, 10).unwrap_err().contains(":1:"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
