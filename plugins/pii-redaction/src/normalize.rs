//! Full-width to half-width folding (`１３８…` → `138…`, `＠` → `@`, U+3000 → space), so
//! detectors and word lists see Chinese-keyboard input the same as ASCII. Offsets of matches in
//! the folded text map back to the original through `orig`.

pub struct Folded {
    pub text: String,
    /// (folded offset, original minus folded) from that offset on; sorted. Each folded
    /// character shrinks by 2 bytes (3-byte full-width form to 1 ASCII byte), so the map only
    /// needs a breakpoint per folded character, not an entry per byte.
    shifts: Vec<(u32, u32)>,
}

impl Folded {
    pub fn to_orig(&self, i: usize) -> usize {
        let k = self.shifts.partition_point(|(p, _)| *p as usize <= i);
        let delta = if k == 0 {
            0
        } else {
            self.shifts[k - 1].1 as usize
        };
        i + delta
    }
}

/// `None` when nothing needs folding (no copy, offsets unchanged).
pub fn fold(s: &str) -> Option<Folded> {
    let b = s.as_bytes();
    let mut text: Option<String> = None;
    let mut shifts = Vec::new();
    let mut copied = 0;
    let mut from = 0;
    // U+FF01..U+FF5E are EF BC 81..EF BD 9E; U+3000 is E3 80 80: only those lead bytes matter.
    while let Some(off) = memchr::memchr2(0xEF, 0xE3, &b[from..]) {
        let i = from + off;
        from = i + 1;
        let Some(c) = s.get(i..).and_then(|t| t.chars().next()) else {
            continue;
        };
        let h = half(c);
        if h == c {
            continue;
        }
        let out = text.get_or_insert_with(|| String::with_capacity(s.len()));
        out.push_str(&s[copied..i]);
        out.push(h);
        copied = i + c.len_utf8();
        from = copied;
        shifts.push((out.len() as u32, (copied - out.len()) as u32));
    }
    let mut text = text?;
    text.push_str(&s[copied..]);
    Some(Folded { text, shifts })
}

fn half(c: char) -> char {
    match c {
        '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
        '\u{3000}' => ' ',
        _ => c,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_and_maps_offsets() {
        let s = "电话１３８";
        let f = fold(s).expect("needs folding");
        assert_eq!(f.text, "电话138");
        // '1' is at folded byte 6 and original byte 6; '3' at 7 maps to original 9.
        assert_eq!(f.to_orig(6), 6);
        assert_eq!(f.to_orig(7), 9);
        assert_eq!(f.to_orig(f.text.len()), s.len());
        assert!(fold("plain ascii 中文").is_none());
    }
}
