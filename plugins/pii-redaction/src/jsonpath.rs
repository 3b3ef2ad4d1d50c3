//! The JSONPath subset ai-data-masking configs use: `$`, `.name`, `['name']`, `[n]`, `[*]`,
//! `.*` and `..name` (recursive descent). Every string under a selected node is inspected.

use serde_json::Value;

#[derive(Debug, Clone, PartialEq)]
enum Seg {
    Key(String),
    Index(usize),
    Wild,
    Descend(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct JsonPath(Vec<Seg>);

impl JsonPath {
    pub fn parse(s: &str) -> Result<JsonPath, String> {
        let rest = s.trim().strip_prefix('$').ok_or("must start with $")?;
        let b = rest.as_bytes();
        let mut segs = Vec::new();
        let mut i = 0;
        let ident = |i: usize| {
            let mut e = i;
            while e < b.len() && b[e] != b'.' && b[e] != b'[' {
                e += 1;
            }
            e
        };
        while i < b.len() {
            if rest[i..].starts_with("..") {
                let e = ident(i + 2);
                if e == i + 2 {
                    return Err("`..` needs a name".into());
                }
                segs.push(Seg::Descend(rest[i + 2..e].to_string()));
                i = e;
            } else if b[i] == b'.' {
                let e = ident(i + 1);
                match &rest[i + 1..e] {
                    "" => return Err("empty name after `.`".into()),
                    "*" => segs.push(Seg::Wild),
                    n => segs.push(Seg::Key(n.to_string())),
                }
                i = e;
            } else if b[i] == b'[' {
                let close = rest[i..].find(']').ok_or("unclosed [")? + i;
                let inner = rest[i + 1..close].trim();
                if inner == "*" {
                    segs.push(Seg::Wild);
                } else if let Ok(n) = inner.parse::<usize>() {
                    segs.push(Seg::Index(n));
                } else if inner.len() >= 2
                    && (inner.starts_with('\'') && inner.ends_with('\'')
                        || inner.starts_with('"') && inner.ends_with('"'))
                {
                    segs.push(Seg::Key(inner[1..inner.len() - 1].to_string()));
                } else {
                    return Err(format!("unsupported selector [{inner}]"));
                }
                i = close + 1;
            } else {
                return Err(format!("unexpected {:?}", &rest[i..]));
            }
        }
        Ok(JsonPath(segs))
    }

    /// Calls `f` on every string under the selected nodes.
    pub fn for_each_string(&self, root: &mut Value, f: &mut dyn FnMut(&mut String)) {
        select(root, &self.0, f);
    }
}

fn select(v: &mut Value, segs: &[Seg], f: &mut dyn FnMut(&mut String)) {
    let Some((seg, rest)) = segs.split_first() else {
        return all_strings(v, f);
    };
    match (seg, v) {
        (Seg::Key(k), Value::Object(m)) => {
            if let Some(c) = m.get_mut(k) {
                select(c, rest, f);
            }
        }
        (Seg::Index(n), Value::Array(a)) => {
            if let Some(c) = a.get_mut(*n) {
                select(c, rest, f);
            }
        }
        (Seg::Wild, Value::Array(a)) => a.iter_mut().for_each(|c| select(c, rest, f)),
        (Seg::Wild, Value::Object(m)) => m.values_mut().for_each(|c| select(c, rest, f)),
        (Seg::Descend(k), v) => descend(v, k, rest, f),
        _ => {}
    }
}

fn descend(v: &mut Value, k: &str, rest: &[Seg], f: &mut dyn FnMut(&mut String)) {
    match v {
        Value::Object(m) => {
            for (key, c) in m.iter_mut() {
                if key == k {
                    select(c, rest, f);
                } else {
                    descend(c, k, rest, f);
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|c| descend(c, k, rest, f)),
        _ => {}
    }
}

/// Every string leaf (not keys).
pub fn all_strings(v: &mut Value, f: &mut dyn FnMut(&mut String)) {
    match v {
        Value::String(s) => f(s),
        Value::Array(a) => a.iter_mut().for_each(|c| all_strings(c, f)),
        Value::Object(m) => m.values_mut().for_each(|c| all_strings(c, f)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn strings(path: &str, mut v: Value) -> Vec<String> {
        let mut out = Vec::new();
        JsonPath::parse(path)
            .unwrap()
            .for_each_string(&mut v, &mut |s| out.push(s.clone()));
        out
    }

    #[test]
    fn selectors() {
        let v = json!({"a": {"b": ["x", {"c": "y"}], "d": "z"}, "e": [{"c": "w"}]});
        assert_eq!(strings("$.a.b[0]", v.clone()), ["x"]);
        assert_eq!(strings("$.a.b[*]", v.clone()), ["x", "y"]);
        assert_eq!(strings("$['a'].d", v.clone()), ["z"]);
        assert_eq!(strings("$..c", v.clone()), ["y", "w"]);
        assert_eq!(strings("$.a.*", v.clone()), ["x", "y", "z"]);
        assert!(strings("$.nope", v).is_empty());
        assert!(JsonPath::parse("a.b").is_err());
        assert!(JsonPath::parse("$.a[?(@.x)]").is_err());
    }
}
