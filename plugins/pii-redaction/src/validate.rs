//! Checksums and plausibility checks. A format alone matches too much (order numbers, timestamps),
//! so every detector whose format has a check digit or a structure runs it here.

/// Luhn (ISO/IEC 7812) over ASCII digits; false for anything else.
pub fn luhn(digits: &[u8]) -> bool {
    if digits.len() < 2 || !digits.iter().all(u8::is_ascii_digit) {
        return false;
    }
    let mut sum = 0u32;
    for (i, d) in digits.iter().rev().enumerate() {
        let mut v = u32::from(d - b'0');
        if i % 2 == 1 {
            v *= 2;
            if v > 9 {
                v -= 9;
            }
        }
        sum += v;
    }
    sum.is_multiple_of(10)
}

/// Issuer prefixes of payment cards (Visa, Mastercard incl. 2-series, Amex, Discover, JCB,
/// Diners, UnionPay, Maestro). Luhn alone passes one random number in ten, so a 16-digit order
/// number would be flagged too often without this.
pub fn card_prefix_ok(d: &[u8]) -> bool {
    let n = |k: usize| -> u32 {
        d.iter()
            .take(k)
            .fold(0, |acc, c| acc * 10 + u32::from(c.wrapping_sub(b'0')))
    };
    let len = d.len();
    match d.first() {
        Some(b'4') => matches!(len, 13 | 16 | 19),
        Some(b'5') => {
            (51..=55).contains(&n(2)) && len == 16
                || (n(2) == 50 || (56..=58).contains(&n(2))) && (12..=19).contains(&len)
        }
        Some(b'2') => (2221..=2720).contains(&n(4)) && len == 16,
        Some(b'3') => {
            matches!(n(2), 34 | 37) && len == 15
                || (3528..=3589).contains(&n(4)) && (16..=19).contains(&len)
                || matches!(n(2), 36 | 38 | 39 | 30) && (14..=19).contains(&len)
        }
        Some(b'6') => {
            (n(2) == 62 || n(2) == 65 || n(4) == 6011 || (644..=649).contains(&n(3)) || n(2) == 67)
                && (16..=19).contains(&len)
        }
        _ => false,
    }
}

/// Whether `yyyy`, `mm`, `dd` form a real calendar date between 1900 and 2100.
fn date_ok(y: u32, m: u32, d: u32) -> bool {
    if !(1900..=2100).contains(&y) || !(1..=12).contains(&m) || d == 0 {
        return false;
    }
    let leap = (y.is_multiple_of(4) && !y.is_multiple_of(100)) || y.is_multiple_of(400);
    let days = match m {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    };
    d <= days
}

fn num(d: &[u8]) -> u32 {
    d.iter()
        .fold(0, |a, c| a * 10 + u32::from(c.wrapping_sub(b'0')))
}

/// Mainland China region codes start with 1-8 (11 Beijing ... 82 Macau); 9x and 0x do not exist.
fn region_ok(d: &[u8]) -> bool {
    matches!(d.first(), Some(b'1'..=b'8')) && d.get(1).is_some_and(u8::is_ascii_digit)
}

/// GB 11643-1999 18-digit resident ID: region, birth date, ISO 7064 MOD 11-2 check character.
pub fn cn_id18(id: &[u8]) -> bool {
    if id.len() != 18 || !id[..17].iter().all(u8::is_ascii_digit) {
        return false;
    }
    if !region_ok(id) || !date_ok(num(&id[6..10]), num(&id[10..12]), num(&id[12..14])) {
        return false;
    }
    const W: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    const C: &[u8; 11] = b"10X98765432";
    let sum: u32 = id[..17]
        .iter()
        .zip(W)
        .map(|(c, w)| u32::from(c - b'0') * w)
        .sum();
    C[(sum % 11) as usize] == id[17].to_ascii_uppercase()
}

/// Pre-1999 15-digit ID: region and a 19yy birth date; it has no check digit.
pub fn cn_id15(id: &[u8]) -> bool {
    id.len() == 15
        && id.iter().all(u8::is_ascii_digit)
        && region_ok(id)
        && date_ok(1900 + num(&id[6..8]), num(&id[8..10]), num(&id[10..12]))
}

/// IBAN (ISO 13616): country letters, two check digits, mod 97 == 1 over the rearranged string.
/// `s` has no spaces.
pub fn iban(s: &[u8]) -> bool {
    if !(15..=34).contains(&s.len())
        || !s[..2].iter().all(u8::is_ascii_uppercase)
        || !s[2..4].iter().all(u8::is_ascii_digit)
        || !s[4..]
            .iter()
            .all(|c| c.is_ascii_digit() || c.is_ascii_uppercase())
    {
        return false;
    }
    let mut rem: u32 = 0;
    for &c in s[4..].iter().chain(&s[..4]) {
        if c.is_ascii_digit() {
            rem = (rem * 10 + u32::from(c - b'0')) % 97;
        } else {
            let v = u32::from(c - b'A') + 10;
            rem = (rem * 100 + v) % 97;
        }
    }
    rem == 1
}

/// US SSN `AAA-GG-SSSS`: area not 000, 666 or 9xx; group not 00; serial not 0000.
pub fn ssn(area: &[u8], group: &[u8], serial: &[u8]) -> bool {
    let a = num(area);
    area.len() == 3
        && group.len() == 2
        && serial.len() == 4
        && a != 0
        && a != 666
        && a < 900
        && num(group) != 0
        && num(serial) != 0
}

/// Mainland mobile: 11 digits, `1[3-9]` prefix.
pub fn cn_mobile(d: &[u8]) -> bool {
    d.len() == 11 && d[0] == b'1' && (b'3'..=b'9').contains(&d[1])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn luhn_known_values() {
        assert!(luhn(b"4111111111111111"));
        assert!(!luhn(b"4111111111111112"));
        assert!(!luhn(b"41x1"));
    }

    #[test]
    fn id18_check_digit() {
        // 11010519491231002X is the standard's worked example.
        assert!(cn_id18(b"11010519491231002X"));
        assert!(cn_id18(b"11010519491231002x"));
        assert!(!cn_id18(b"110105194912310021"));
        // Date 1949-13-31 does not exist.
        assert!(!cn_id18(b"11010519491331002X"));
    }

    #[test]
    fn iban_mod97() {
        assert!(iban(b"GB82WEST12345698765432"));
        assert!(iban(b"DE89370400440532013000"));
        assert!(!iban(b"GB82WEST12345698765433"));
    }

    #[test]
    fn ssn_rules() {
        assert!(ssn(b"123", b"45", b"6789"));
        assert!(!ssn(b"666", b"45", b"6789"));
        assert!(!ssn(b"900", b"45", b"6789"));
        assert!(!ssn(b"123", b"00", b"6789"));
    }

    #[test]
    fn dates() {
        assert!(date_ok(2000, 2, 29));
        assert!(!date_ok(1900, 2, 29));
        assert!(!date_ok(2023, 4, 31));
    }
}
