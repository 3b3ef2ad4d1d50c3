//! A Proxy-Wasm plugin written against the raw ABI (no SDK) whose plugin configuration is a script
//! telling it what to call and return in each callback. The host conformance tests configure it
//! per test instead of building one wasm per behaviour.
//!
//! Script: one rule per line, `callback[.eos|.more]: op arg..; op arg..`. Arguments are separated by
//! spaces and percent-decoded (`%20` is a space). Every callback first logs `"<callback> <args>"`,
//! and every op logs `"<callback>: <op> -> <status>[ <value>]"` at info level, so a test reads the
//! exact sequence of host answers from the host's log records.
//!
//! The parsing part is plain Rust so that it is unit-testable natively; the ABI glue only exists on
//! wasm32.

/// One parsed rule: which callback (and eos qualifier) it applies to and the ops it runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub callback: String,
    pub qualifier: Option<bool>,
    pub ops: Vec<Vec<String>>,
}

/// Percent-decodes `%XX` escapes so that script arguments can hold spaces, `;` and newlines.
pub fn decode(arg: &str) -> String {
    let bytes = arg.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Ok(v) = u8::from_str_radix(&arg[i + 1..i + 3], 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Parses the script; unknown lines are kept (the plugin logs what it cannot run).
pub fn parse(script: &str) -> Vec<Rule> {
    let mut rules = Vec::new();
    for line in script.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((head, body)) = line.split_once(':') else {
            continue;
        };
        let head = head.trim();
        let (callback, qualifier) = match head.split_once('.') {
            Some((cb, "eos")) => (cb, Some(true)),
            Some((cb, "more")) => (cb, Some(false)),
            _ => (head, None),
        };
        let ops = body
            .split(';')
            .map(|op| op.split_whitespace().map(decode).collect::<Vec<_>>())
            .filter(|op| !op.is_empty())
            .collect();
        rules.push(Rule {
            callback: callback.to_string(),
            qualifier,
            ops,
        });
    }
    rules
}

/// Serializes header pairs the Proxy-Wasm way (count, sizes, then NUL-terminated strings).
pub fn serialize_pairs(pairs: &[(String, String)]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&(pairs.len() as u32).to_le_bytes());
    for (k, v) in pairs {
        out.extend_from_slice(&(k.len() as u32).to_le_bytes());
        out.extend_from_slice(&(v.len() as u32).to_le_bytes());
    }
    for (k, v) in pairs {
        out.extend_from_slice(k.as_bytes());
        out.push(0);
        out.extend_from_slice(v.as_bytes());
        out.push(0);
    }
    out
}

/// Parses `k=v,k2=v2` into pairs.
pub fn parse_pairs(spec: &str) -> Vec<(String, String)> {
    spec.split(',')
        .filter(|s| !s.is_empty())
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Renders serialized pairs as `k=v,k=v` for logging.
pub fn render_pairs(data: &[u8]) -> String {
    if data.len() < 4 {
        return String::new();
    }
    let n = u32::from_le_bytes([data[0], data[1], data[2], data[3]]) as usize;
    let mut sizes = Vec::with_capacity(n);
    let mut p = 4;
    for _ in 0..n {
        let k = u32::from_le_bytes(data[p..p + 4].try_into().unwrap()) as usize;
        let v = u32::from_le_bytes(data[p + 4..p + 8].try_into().unwrap()) as usize;
        sizes.push((k, v));
        p += 8;
    }
    let mut out = Vec::new();
    for (k, v) in sizes {
        let key = String::from_utf8_lossy(&data[p..p + k]).into_owned();
        p += k + 1;
        let val = String::from_utf8_lossy(&data[p..p + v]).into_owned();
        p += v + 1;
        out.push(format!("{key}={val}"));
    }
    out.join(",")
}

#[cfg(target_arch = "wasm32")]
mod abi;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_rules_with_qualifiers_and_escapes() {
        let rules =
            parse("request_body.eos: log hello%20world; return 1\n# c\nlog: get_header 0 a");
        assert_eq!(rules.len(), 2);
        assert_eq!(rules[0].callback, "request_body");
        assert_eq!(rules[0].qualifier, Some(true));
        assert_eq!(rules[0].ops[0], vec!["log", "hello world"]);
        assert_eq!(rules[0].ops[1], vec!["return", "1"]);
        assert_eq!(rules[1].ops[0], vec!["get_header", "0", "a"]);
    }

    #[test]
    fn pairs_round_trip() {
        let pairs = parse_pairs("a=1,b=two");
        assert_eq!(render_pairs(&serialize_pairs(&pairs)), "a=1,b=two");
    }
}
