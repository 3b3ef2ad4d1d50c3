//! Wire formats of the ABI: header maps and property paths.

/// Serializes pairs as the ABI wants them: u32 count, (u32 key_len, u32 value_len) per pair, then
/// `key\0value\0` per pair. All integers little-endian.
pub fn serialize_map<K: AsRef<[u8]>, V: AsRef<[u8]>>(pairs: &[(K, V)]) -> Vec<u8> {
    let data_len: usize = pairs
        .iter()
        .map(|(k, v)| k.as_ref().len() + v.as_ref().len() + 2)
        .sum();
    let mut out = Vec::with_capacity(4 + pairs.len() * 8 + data_len);
    out.extend_from_slice(&(pairs.len() as u32).to_le_bytes());
    for (k, v) in pairs {
        out.extend_from_slice(&(k.as_ref().len() as u32).to_le_bytes());
        out.extend_from_slice(&(v.as_ref().len() as u32).to_le_bytes());
    }
    for (k, v) in pairs {
        out.extend_from_slice(k.as_ref());
        out.push(0);
        out.extend_from_slice(v.as_ref());
        out.push(0);
    }
    out
}

/// Parses a serialized map. Hosts send an empty buffer or a lone zero byte for an empty map; both
/// are accepted. A truncated or inconsistent buffer is an error, never a panic.
/// Header pairs as raw bytes (values need not be UTF-8).
pub type Pairs = Vec<(Vec<u8>, Vec<u8>)>;

pub fn deserialize_map(bytes: &[u8]) -> Result<Pairs, &'static str> {
    if bytes.len() < 4 {
        return if bytes.iter().all(|b| *b == 0) {
            Ok(Vec::new())
        } else {
            Err("map shorter than its count")
        };
    }
    let read_u32 = |at: usize| -> Option<usize> {
        let raw = bytes.get(at..at + 4)?;
        Some(u32::from_le_bytes([raw[0], raw[1], raw[2], raw[3]]) as usize)
    };
    let count = read_u32(0).ok_or("map count missing")?;
    let sizes_end = count
        .checked_mul(8)
        .and_then(|n| n.checked_add(4))
        .ok_or("map count overflows")?;
    if sizes_end > bytes.len() {
        return Err("map sizes truncated");
    }
    let mut pairs = Vec::with_capacity(count);
    let mut data = sizes_end;
    for i in 0..count {
        let klen = read_u32(4 + i * 8).ok_or("map sizes truncated")?;
        let vlen = read_u32(8 + i * 8).ok_or("map sizes truncated")?;
        let key = take(bytes, &mut data, klen)?;
        let value = take(bytes, &mut data, vlen)?;
        pairs.push((key, value));
    }
    Ok(pairs)
}

fn take(bytes: &[u8], at: &mut usize, len: usize) -> Result<Vec<u8>, &'static str> {
    let end = at.checked_add(len).ok_or("map entry overflows")?;
    let slice = bytes.get(*at..end).ok_or("map entry truncated")?;
    if bytes.get(end) != Some(&0) {
        return Err("map entry not NUL-terminated");
    }
    *at = end + 1;
    Ok(slice.to_vec())
}

/// Property paths are segments joined by NUL, with no trailing NUL (Envoy splits on NUL).
pub fn serialize_property_path(path: &[&str]) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, segment) in path.iter().enumerate() {
        if i > 0 {
            out.push(0);
        }
        out.extend_from_slice(segment.as_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn map_layout_matches_the_abi() {
        let bytes = serialize_map(&[("ab", "c"), (":path", "")]);
        let mut expected = vec![2, 0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0];
        expected.extend_from_slice(b"ab\0c\0:path\0\0");
        assert_eq!(bytes, expected);
    }

    #[test]
    fn map_round_trips() {
        let pairs = vec![
            (b"x-a".to_vec(), b"1".to_vec()),
            (b"x-a".to_vec(), b"two".to_vec()),
        ];
        assert_eq!(deserialize_map(&serialize_map(&pairs)).unwrap(), pairs);
    }

    #[test]
    fn empty_map_forms_are_accepted() {
        assert!(deserialize_map(&[]).unwrap().is_empty());
        assert!(deserialize_map(&[0]).unwrap().is_empty());
        assert!(deserialize_map(&[0, 0, 0, 0]).unwrap().is_empty());
    }

    #[test]
    fn malformed_maps_are_errors() {
        assert!(deserialize_map(&[1]).is_err());
        // Claims one pair but has no sizes.
        assert!(deserialize_map(&[1, 0, 0, 0]).is_err());
        // Huge count must not overflow or allocate.
        assert!(deserialize_map(&[255, 255, 255, 255, 0, 0]).is_err());
        // Key length beyond the buffer.
        let mut bad = serialize_map(&[("k", "v")]);
        bad[4] = 50;
        assert!(deserialize_map(&bad).is_err());
        // Missing NUL terminator.
        let mut bad = serialize_map(&[("k", "v")]);
        let n = bad.len();
        bad[n - 1] = b'x';
        assert!(deserialize_map(&bad).is_err());
    }

    #[test]
    fn property_path_joins_with_nul() {
        assert_eq!(
            serialize_property_path(&["request", "path"]),
            b"request\0path"
        );
        assert_eq!(serialize_property_path(&["route_name"]), b"route_name");
    }
}
