//! `%{NAME}` / `%{NAME:alias}` patterns as ai-data-masking's `replace_roles` accepts them,
//! expanded into `regex` syntax. The definitions are our own, written for the `regex` crate
//! (no look-around); an unknown name is a config error rather than a silent literal.

fn definition(name: &str) -> Option<&'static str> {
    Some(match name {
        // ai-data-masking's two additions.
        "MOBILE" => r"\d{8,11}",
        "IDCARD" => r"\d{17}[0-9xX]|\d{15}",
        "EMAILADDRESS" => r"[a-zA-Z0-9._%+-]+@[a-zA-Z0-9-]+(?:\.[a-zA-Z0-9-]+)+",
        "EMAILLOCALPART" => r"[a-zA-Z0-9._%+-]+",
        "HOSTNAME" => r"[a-zA-Z0-9-]+(?:\.[a-zA-Z0-9-]+)*",
        "IPV4" | "IP" => {
            r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?:\.(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}"
        }
        "INT" => r"[+-]?\d+",
        "NUMBER" => r"[+-]?\d+(?:\.\d+)?",
        "BASE10NUM" => r"[+-]?\d+(?:\.\d+)?",
        "POSINT" => r"[1-9]\d*",
        "NONNEGINT" => r"\d+",
        "WORD" => r"\w+",
        "NOTSPACE" => r"\S+",
        "SPACE" => r"\s*",
        "DATA" => r".*?",
        "GREEDYDATA" => r".*",
        "USERNAME" | "USER" => r"[a-zA-Z0-9._-]+",
        "UUID" => r"[A-Fa-f0-9]{8}-[A-Fa-f0-9]{4}-[A-Fa-f0-9]{4}-[A-Fa-f0-9]{4}-[A-Fa-f0-9]{12}",
        "MAC" => r"[0-9A-Fa-f]{2}(?:[:-][0-9A-Fa-f]{2}){5}",
        "URIPROTO" => r"[A-Za-z][A-Za-z0-9+.-]*",
        "URIPATH" => r"(?:/[A-Za-z0-9$.+!*'(){},~:;=@#%&_\-]*)+",
        "YEAR" => r"\d\d(?:\d\d)?",
        "MONTHNUM" => r"0?[1-9]|1[0-2]",
        "MONTHDAY" => r"0?[1-9]|[12]\d|3[01]",
        "HOUR" => r"2[0-3]|[01]?\d",
        "MINUTE" => r"[0-5]\d",
        "SECOND" => r"[0-5]?\d|60",
        _ => return None,
    })
}

/// Expands every `%{..}`; plain regex text passes through unchanged.
pub fn expand(pattern: &str) -> Result<String, String> {
    let mut out = String::with_capacity(pattern.len());
    let mut rest = pattern;
    while let Some(i) = rest.find("%{") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 2..];
        let Some(close) = after.find('}') else {
            return Err("unterminated %{".into());
        };
        let spec = &after[..close];
        let (name, alias) = match spec.split_once(':') {
            Some((n, a)) => (n, Some(a)),
            None => (spec, None),
        };
        let def = definition(name).ok_or_else(|| format!("unknown grok pattern %{{{name}}}"))?;
        match alias {
            Some(a)
                if !a.is_empty() && a.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') =>
            {
                out.push_str(&format!("(?P<{a}>{def})"));
            }
            Some(a) => return Err(format!("invalid grok alias {a:?}")),
            None => out.push_str(&format!("(?:{def})")),
        }
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expands_alias_into_named_group() {
        let re = expand("%{EMAILLOCALPART}@%{HOSTNAME:domain}").unwrap();
        let re = regex::Regex::new(&re).unwrap();
        let caps = re.captures("mail bob@corp.example.com now").unwrap();
        assert_eq!(&caps["domain"], "corp.example.com");
        assert!(expand("%{NOPE}").is_err());
        assert!(expand("%{INT").is_err());
        assert_eq!(expand(r"\d+").unwrap(), r"\d+");
    }
}
