//! Configuration: one multi-document YAML file holding a `kind: Gateway` document (listeners,
//! routes, clusters) and any number of Higress `WasmPlugin` documents, plus optional plugin files
//! listed under `spec.plugins`. Loading validates everything and reports errors naming the file,
//! the document and the field.

mod model;
mod validate;
mod wasm_url;

pub use model::*;
pub use validate::{
    parse_duration, Config, ConfigError, PluginSource, RouteRt, UpstreamCluster, DEFAULT_WORKERS,
};

use std::path::Path;

/// Reads and validates a configuration file.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
        file: path.display().to_string(),
        document: None,
        field: None,
        message: format!("cannot read: {e}"),
    })?;
    validate::from_text(path, &text)
}

/// One YAML document of a multi-document file: its text, 1-based index and first line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Document {
    pub index: usize,
    pub first_line: usize,
    pub text: String,
}

/// Splits a YAML stream at `---` separator lines; empty and comment-only documents are skipped
/// (kubectl and Helm output contain them).
pub fn split_documents(text: &str) -> Vec<Document> {
    let mut docs = Vec::new();
    let mut cur = String::new();
    let mut first_line = 1;
    let mut flush = |cur: &mut String, first_line: usize| {
        let meaningful = cur.lines().any(|l| {
            let t = l.trim();
            !t.is_empty() && !t.starts_with('#')
        });
        if meaningful {
            docs.push(Document {
                index: 0,
                first_line,
                text: std::mem::take(cur),
            });
        }
        cur.clear();
    };
    for (n, line) in text.lines().enumerate() {
        let t = line.trim_end();
        if t == "---" || t.starts_with("--- ") {
            flush(&mut cur, first_line);
            first_line = n + 2;
            continue;
        }
        cur.push_str(line);
        cur.push('\n');
    }
    flush(&mut cur, first_line);
    for (i, d) in docs.iter_mut().enumerate() {
        d.index = i + 1;
    }
    docs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_documents_and_skips_empty_ones() {
        let docs = split_documents("# c\n---\na: 1\n---\n\n--- \nb: 2\nc: 3\n");
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[0].text, "a: 1\n");
        assert_eq!((docs[0].index, docs[0].first_line), (1, 3));
        assert_eq!(docs[1].text, "b: 2\nc: 3\n");
        assert_eq!((docs[1].index, docs[1].first_line), (2, 7));
    }
}
