//! Header maps and the Proxy-Wasm pairs serialization (spec v0.2.1 "Serialization"; cpp-host
//! `PairsUtil::marshalPairs` / `toPairs`).

/// An ordered, multi-valued header map with lower-cased keys, like Envoy's `HeaderMapImpl`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HeaderMap(pub Vec<(String, String)>);

impl HeaderMap {
    pub fn new() -> Self {
        Self(Vec::new())
    }

    /// Builds a map, lower-casing keys (Envoy stores `LowerCaseString` keys).
    pub fn from_pairs<K: AsRef<str>, V: AsRef<str>>(pairs: &[(K, V)]) -> Self {
        Self(
            pairs
                .iter()
                .map(|(k, v)| (k.as_ref().to_ascii_lowercase(), v.as_ref().to_string()))
                .collect(),
        )
    }

    /// First value for `key` (Envoy `getHeaderMapValue` returns `entry[0]`).
    pub fn get(&self, key: &str) -> Option<&str> {
        let key = key.to_ascii_lowercase();
        self.0
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.as_str())
    }

    /// All values for `key`.
    pub fn get_all(&self, key: &str) -> Vec<&str> {
        let key = key.to_ascii_lowercase();
        self.0
            .iter()
            .filter(|(k, _)| *k == key)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// `addCopy`: appends another value.
    pub fn add(&mut self, key: &str, value: &str) {
        self.0.push((key.to_ascii_lowercase(), value.to_string()));
    }

    /// `setCopy`: replaces the first value and removes the others, or appends.
    pub fn replace(&mut self, key: &str, value: &str) {
        let key = key.to_ascii_lowercase();
        match self.0.iter().position(|(k, _)| *k == key) {
            Some(i) => {
                self.0[i].1 = value.to_string();
                let mut n = 0;
                self.0.retain(|(k, _)| {
                    if *k == key {
                        n += 1;
                        n == 1
                    } else {
                        true
                    }
                });
            }
            None => self.0.push((key, value.to_string())),
        }
    }

    pub fn remove(&mut self, key: &str) {
        let key = key.to_ascii_lowercase();
        self.0.retain(|(k, _)| *k != key);
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Envoy `HeaderMap::byteSize`: sum of key and value lengths.
    pub fn byte_size(&self) -> usize {
        self.0.iter().map(|(k, v)| k.len() + v.len()).sum()
    }
}

/// Serializes pairs: u32 count, (u32 key len, u32 value len) per pair, then `key\0value\0`.
pub fn serialize(pairs: &[(String, String)]) -> Vec<u8> {
    let mut out = Vec::with_capacity(
        4 + pairs
            .iter()
            .map(|(k, v)| 10 + k.len() + v.len())
            .sum::<usize>(),
    );
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

/// Parses serialized pairs; malformed input yields an empty list like cpp-host `toPairs`.
pub fn deserialize(data: &[u8]) -> Vec<(String, String)> {
    let read = |p: usize| -> Option<usize> {
        data.get(p..p + 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
    };
    let Some(n) = read(0) else {
        return Vec::new();
    };
    let mut sizes = Vec::new();
    let mut p = 4;
    for _ in 0..n {
        let (Some(k), Some(v)) = (read(p), read(p + 4)) else {
            return Vec::new();
        };
        sizes.push((k, v));
        p += 8;
    }
    let mut out = Vec::with_capacity(n);
    for (k, v) in sizes {
        let (Some(key), Some(val)) = (data.get(p..p + k), data.get(p + k + 1..p + k + 1 + v))
        else {
            return Vec::new();
        };
        out.push((
            String::from_utf8_lossy(key).into_owned(),
            String::from_utf8_lossy(val).into_owned(),
        ));
        p += k + v + 2;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_malformed() {
        let pairs = vec![
            ("a".to_string(), "1".to_string()),
            ("bb".to_string(), String::new()),
        ];
        let bytes = serialize(&pairs);
        assert_eq!(bytes.len(), 4 + 16 + 4 + 4);
        assert_eq!(deserialize(&bytes), pairs);
        assert!(deserialize(&bytes[..10]).is_empty());
        assert!(deserialize(&[0]).is_empty());
    }

    #[test]
    fn replace_keeps_one_value() {
        let mut m = HeaderMap::from_pairs(&[("A", "1"), ("b", "2"), ("a", "3")]);
        m.replace("a", "9");
        assert_eq!(
            m.0,
            vec![("a".into(), "9".into()), ("b".into(), "2".into())]
        );
        m.add("b", "4");
        assert_eq!(m.get_all("B"), vec!["2", "4"]);
        m.remove("b");
        assert_eq!(m.len(), 1);
    }
}
