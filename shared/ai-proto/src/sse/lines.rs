//! Line splitting by the event-stream rules (LF, CR or CRLF end a line).

use memchr::memchr2;

/// Lines of a byte slice whose CR/LF pairs all lie inside the slice.
///
/// The decoder only hands complete blocks (or the final leftover at end of stream) to this
/// iterator, so a CR at the very end cannot be the first half of a CRLF still to arrive.
pub(crate) struct Lines<'a> {
    rest: &'a [u8],
}

impl<'a> Lines<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Lines { rest: buf }
    }
}

impl<'a> Iterator for Lines<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        if self.rest.is_empty() {
            return None;
        }
        let rest = self.rest;
        match memchr2(b'\n', b'\r', rest) {
            Some(i) => {
                let (line, tail) = rest.split_at(i);
                let skip = match tail {
                    [b'\r', b'\n', ..] => 2,
                    _ => 1,
                };
                self.rest = tail.get(skip..).unwrap_or_default();
                Some(line)
            }
            None => {
                self.rest = &[];
                Some(rest)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Lines;

    #[test]
    fn splits_on_every_line_ending_kind() {
        let lines: Vec<&[u8]> = Lines::new(b"a\nb\rc\r\nd\n\re").collect();
        assert_eq!(lines, vec![&b"a"[..], b"b", b"c", b"d", b"", b"e"]);
    }

    #[test]
    fn trailing_terminator_yields_no_empty_line() {
        assert_eq!(Lines::new(b"x\r\n").count(), 1);
        assert_eq!(Lines::new(b"").count(), 0);
    }
}
