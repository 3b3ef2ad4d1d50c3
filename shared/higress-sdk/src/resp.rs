//! A small RESP2 codec: commands out as arrays of bulk strings, replies in as any RESP2 value.
//! The parser is incremental-safe: an incomplete input is `Incomplete`, malformed input an error,
//! never a panic; nesting depth is capped so hostile input cannot exhaust the stack.

/// A decoded reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RespValue {
    Simple(String),
    /// A server error reply (`-ERR ...`). Kept as a value: the call itself succeeded.
    Error(String),
    Integer(i64),
    Bulk(Vec<u8>),
    /// `$-1`.
    NullBulk,
    Array(Vec<RespValue>),
    /// `*-1`.
    NullArray,
}

impl RespValue {
    /// The value as text for simple and bulk strings.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            RespValue::Simple(s) => Some(s),
            RespValue::Bulk(b) => std::str::from_utf8(b).ok(),
            _ => None,
        }
    }

    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            RespValue::Simple(s) => Some(s.as_bytes()),
            RespValue::Bulk(b) => Some(b),
            _ => None,
        }
    }

    pub fn as_integer(&self) -> Option<i64> {
        match self {
            RespValue::Integer(i) => Some(*i),
            _ => None,
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self, RespValue::NullBulk | RespValue::NullArray)
    }

    pub fn is_error(&self) -> bool {
        matches!(self, RespValue::Error(_))
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RespError {
    /// More bytes are needed.
    Incomplete,
    Invalid(String),
}

impl std::fmt::Display for RespError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RespError::Incomplete => f.write_str("incomplete RESP reply"),
            RespError::Invalid(why) => write!(f, "invalid RESP reply: {why}"),
        }
    }
}

impl std::error::Error for RespError {}

const MAX_DEPTH: usize = 64;

/// Encodes a command as `*N\r\n$len\r\narg\r\n...`.
pub fn encode_command<A: AsRef<[u8]>>(args: &[A]) -> Vec<u8> {
    let mut out =
        Vec::with_capacity(16 + args.iter().map(|a| a.as_ref().len() + 16).sum::<usize>());
    out.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
    for arg in args {
        let arg = arg.as_ref();
        out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
        out.extend_from_slice(arg);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// Parses one complete reply that must fill `input` exactly.
pub fn decode(input: &[u8]) -> Result<RespValue, RespError> {
    let (value, used) = decode_prefix(input)?;
    if used != input.len() {
        return Err(RespError::Invalid(format!(
            "{} trailing bytes",
            input.len() - used
        )));
    }
    Ok(value)
}

/// Parses one reply from the start of `input`; returns it and the number of bytes it used.
pub fn decode_prefix(input: &[u8]) -> Result<(RespValue, usize), RespError> {
    let mut pos = 0;
    let value = parse(input, &mut pos, 0)?;
    Ok((value, pos))
}

fn line<'a>(input: &'a [u8], pos: &mut usize) -> Result<&'a [u8], RespError> {
    let rest = input.get(*pos..).ok_or(RespError::Incomplete)?;
    let end = rest
        .windows(2)
        .position(|w| w == b"\r\n")
        .ok_or(RespError::Incomplete)?;
    *pos += end + 2;
    Ok(&rest[..end])
}

fn int(raw: &[u8]) -> Result<i64, RespError> {
    std::str::from_utf8(raw)
        .ok()
        .and_then(|s| s.parse::<i64>().ok())
        .ok_or_else(|| {
            RespError::Invalid(format!("bad integer {:?}", String::from_utf8_lossy(raw)))
        })
}

fn text(raw: &[u8]) -> String {
    String::from_utf8_lossy(raw).into_owned()
}

fn parse(input: &[u8], pos: &mut usize, depth: usize) -> Result<RespValue, RespError> {
    if depth > MAX_DEPTH {
        return Err(RespError::Invalid("nesting too deep".into()));
    }
    let kind = *input.get(*pos).ok_or(RespError::Incomplete)?;
    *pos += 1;
    match kind {
        b'+' => Ok(RespValue::Simple(text(line(input, pos)?))),
        b'-' => Ok(RespValue::Error(text(line(input, pos)?))),
        b':' => Ok(RespValue::Integer(int(line(input, pos)?)?)),
        b'$' => {
            let len = int(line(input, pos)?)?;
            if len == -1 {
                return Ok(RespValue::NullBulk);
            }
            let len = usize::try_from(len)
                .map_err(|_| RespError::Invalid("negative bulk length".into()))?;
            let overflow = || RespError::Invalid("bulk length overflows".into());
            let end = pos.checked_add(len).ok_or_else(overflow)?;
            let stop = end.checked_add(2).ok_or_else(overflow)?;
            if input.len() < stop {
                return Err(RespError::Incomplete);
            }
            if &input[end..stop] != b"\r\n" {
                return Err(RespError::Invalid(
                    "bulk string not terminated by CRLF".into(),
                ));
            }
            let bytes = input[*pos..end].to_vec();
            *pos = stop;
            Ok(RespValue::Bulk(bytes))
        }
        b'*' => {
            let n = int(line(input, pos)?)?;
            if n == -1 {
                return Ok(RespValue::NullArray);
            }
            let n = usize::try_from(n)
                .map_err(|_| RespError::Invalid("negative array length".into()))?;
            // Each element needs at least 3 bytes; this bounds the allocation by the input size.
            let mut items = Vec::with_capacity(n.min(input.len() / 3 + 1));
            for _ in 0..n {
                items.push(parse(input, pos, depth + 1)?);
            }
            Ok(RespValue::Array(items))
        }
        other => Err(RespError::Invalid(format!(
            "unknown type byte 0x{other:02x}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_commands_as_bulk_arrays() {
        assert_eq!(
            encode_command(&["SET", "k", "v v"]),
            b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$3\r\nv v\r\n"
        );
        assert_eq!(encode_command::<&str>(&[]), b"*0\r\n");
    }

    #[test]
    fn decodes_every_reply_kind() {
        assert_eq!(decode(b"+OK\r\n").unwrap(), RespValue::Simple("OK".into()));
        assert_eq!(
            decode(b"-ERR bad\r\n").unwrap(),
            RespValue::Error("ERR bad".into())
        );
        assert_eq!(decode(b":-42\r\n").unwrap(), RespValue::Integer(-42));
        assert_eq!(
            decode(b"$5\r\nhe\r\no\r\n").unwrap(),
            RespValue::Bulk(b"he\r\no".to_vec())
        );
        assert_eq!(decode(b"$0\r\n\r\n").unwrap(), RespValue::Bulk(vec![]));
        assert_eq!(decode(b"$-1\r\n").unwrap(), RespValue::NullBulk);
        assert_eq!(decode(b"*-1\r\n").unwrap(), RespValue::NullArray);
        assert_eq!(decode(b"*0\r\n").unwrap(), RespValue::Array(vec![]));
        assert_eq!(
            decode(b"*3\r\n:1\r\n*2\r\n$1\r\na\r\n$-1\r\n+x\r\n").unwrap(),
            RespValue::Array(vec![
                RespValue::Integer(1),
                RespValue::Array(vec![RespValue::Bulk(b"a".to_vec()), RespValue::NullBulk]),
                RespValue::Simple("x".into()),
            ])
        );
    }

    #[test]
    fn every_strict_prefix_is_incomplete() {
        let full = b"*2\r\n$3\r\nfoo\r\n:7\r\n";
        for cut in 0..full.len() {
            assert_eq!(
                decode_prefix(&full[..cut]),
                Err(RespError::Incomplete),
                "cut at {cut}"
            );
        }
        assert_eq!(decode_prefix(full).unwrap().1, full.len());
    }

    #[test]
    fn malformed_input_is_an_error_not_a_panic() {
        for bad in [
            &b"?x\r\n"[..],
            b":abc\r\n",
            b"$-2\r\n",
            b"*-5\r\n",
            b"$3\r\nabcXY",
            b"$99999999999999999999\r\n",
            b"$9223372036854775807\r\nab\r\n",
        ] {
            assert!(
                matches!(
                    decode(bad),
                    Err(RespError::Invalid(_)) | Err(RespError::Incomplete)
                ),
                "{bad:?}"
            );
        }
        assert!(matches!(
            decode(b"+OK\r\nextra"),
            Err(RespError::Invalid(_))
        ));
        assert!(matches!(decode(b"$3\r\nabcXY"), Err(RespError::Invalid(_))));
    }

    #[test]
    fn huge_array_count_does_not_allocate_or_overflow() {
        assert_eq!(decode(b"*4294967295\r\n:1\r\n"), Err(RespError::Incomplete));
    }

    #[test]
    fn deep_nesting_is_rejected() {
        let mut input = Vec::new();
        for _ in 0..200 {
            input.extend_from_slice(b"*1\r\n");
        }
        input.extend_from_slice(b":1\r\n");
        assert!(matches!(decode(&input), Err(RespError::Invalid(_))));
    }

    #[test]
    fn accessors() {
        assert_eq!(RespValue::Bulk(b"v".to_vec()).as_str(), Some("v"));
        assert_eq!(RespValue::Integer(3).as_integer(), Some(3));
        assert!(RespValue::NullBulk.is_null());
        assert!(RespValue::Error("x".into()).is_error());
    }
}
