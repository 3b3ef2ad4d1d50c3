//! RESP framing shared by every embedder that talks to a real Redis for a plugin: the gateway's
//! Redis pool and the harness's live backends. Plugins send raw RESP queries
//! (`proxy_redis_call`); the embedder forwards them and must cut exactly one reply from the socket.

/// Length of the first complete RESP value in `buf`, `None` if more bytes are needed.
pub fn frame_len(buf: &[u8]) -> Result<Option<usize>, String> {
    fn line(buf: &[u8], from: usize) -> Option<usize> {
        buf[from..]
            .windows(2)
            .position(|w| w == b"\r\n")
            .map(|p| from + p)
    }
    fn value(buf: &[u8], at: usize) -> Result<Option<usize>, String> {
        if at >= buf.len() {
            return Ok(None);
        }
        let Some(eol) = line(buf, at) else {
            return Ok(None);
        };
        let head = &buf[at + 1..eol];
        let num = || -> Result<i64, String> {
            std::str::from_utf8(head)
                .ok()
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| format!("bad RESP length {:?}", String::from_utf8_lossy(head)))
        };
        match buf[at] {
            b'+' | b'-' | b':' | b',' | b'#' | b'_' | b'(' => Ok(Some(eol + 2)),
            b'$' | b'=' | b'!' => {
                let n = num()?;
                if n < 0 {
                    return Ok(Some(eol + 2));
                }
                // A length past the buffer (or absurd) just means "more bytes needed"; the call
                // timeout ends a reply that never completes.
                let end = usize::try_from(n)
                    .ok()
                    .and_then(|n| (eol + 4).checked_add(n));
                Ok(end.filter(|e| buf.len() >= *e))
            }
            b'*' | b'~' | b'>' | b'%' => {
                let n = num()?;
                let count = if buf[at] == b'%' { n * 2 } else { n };
                let mut pos = eol + 2;
                for _ in 0..count.max(0) {
                    match value(buf, pos)? {
                        Some(p) => pos = p,
                        None => return Ok(None),
                    }
                }
                Ok(Some(pos))
            }
            other => Err(format!("bad RESP type byte {other:#x}")),
        }
    }
    value(buf, 0)
}

/// RESP array of bulk strings (what a client sends).
pub fn command(args: &[&[u8]]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_lengths() {
        assert_eq!(frame_len(b"+OK\r\n").unwrap(), Some(5));
        assert_eq!(frame_len(b"+OK\r").unwrap(), None);
        assert_eq!(frame_len(b"$3\r\nabc\r\n+X").unwrap(), Some(9));
        assert_eq!(frame_len(b"$3\r\nab").unwrap(), None);
        assert_eq!(frame_len(b"$-1\r\n").unwrap(), Some(5));
        assert_eq!(frame_len(b"*2\r\n:1\r\n$1\r\nx\r\n").unwrap(), Some(15));
        assert_eq!(frame_len(b"*2\r\n:1\r\n").unwrap(), None);
        assert!(frame_len(b"?\r\n").is_err());
        assert_eq!(frame_len(b"$9223372036854775807\r\nab").unwrap(), None);
        assert!(frame_len(b"$x\r\n").is_err());
        assert_eq!(
            command(&[b"GET", b"k"]),
            b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n".to_vec()
        );
    }
}
