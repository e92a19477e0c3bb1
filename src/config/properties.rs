//! Java `.properties` parsing, as `java.util.Properties.load` does it, because `server.properties`
//! files written for Kafka must mean the same thing here.
//!
//! Rules: lines starting (after whitespace) with `#` or `!` are comments; the key ends at the first
//! unescaped `=`, `:` or whitespace; whitespace and one `=`/`:` separator are skipped; a line ending
//! in an odd number of backslashes continues on the next line (whose leading whitespace is dropped);
//! `\t \n \r \f \uXXXX` are escapes and any other `\c` is `c`. Later duplicates win.

use std::collections::BTreeMap;

/// Parses properties text into key → value.
pub fn parse_properties(text: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for logical in logical_lines(text) {
        let (key, value) = split_key_value(&logical);
        out.insert(unescape(key), unescape(value));
    }
    out
}

/// Joins continuation lines and drops blanks and comments; escapes stay in place.
fn logical_lines(text: &str) -> Vec<String> {
    let mut lines = Vec::new();
    let mut current: Option<String> = None;
    for raw in text.lines() {
        let trimmed = raw.trim_start_matches([' ', '\t', '\u{c}']);
        let line = match current.take() {
            Some(mut acc) => {
                acc.push_str(trimmed);
                acc
            }
            None => {
                if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with('!') {
                    continue;
                }
                trimmed.to_owned()
            }
        };
        let trailing = line.chars().rev().take_while(|&c| c == '\\').count();
        if trailing % 2 == 1 {
            let mut l = line;
            l.pop();
            current = Some(l);
        } else {
            lines.push(line);
        }
    }
    if let Some(last) = current {
        lines.push(last);
    }
    lines
}

/// Splits a logical line at the first unescaped separator.
fn split_key_value(line: &str) -> (&str, &str) {
    let bytes = line.as_bytes();
    let mut i = 0;
    let mut key_end = bytes.len();
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'=' | b':' | b' ' | b'\t' | b'\x0c' => {
                key_end = i;
                break;
            }
            _ => i += 1,
        }
    }
    let key_end = key_end.min(bytes.len());
    let rest = &line[key_end..];
    let rest = rest.trim_start_matches([' ', '\t', '\u{c}']);
    let rest = rest.strip_prefix(['=', ':']).unwrap_or(rest);
    let value = rest.trim_start_matches([' ', '\t', '\u{c}']);
    (&line[..key_end], value)
}

/// Resolves backslash escapes. Values are also trimmed at the end, like Kafka's own parsing of
/// every typed value (`server.properties` lines often carry trailing spaces).
fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('f') => out.push('\u{c}'),
            Some('u') => {
                let hex: String = chars.clone().take(4).collect();
                match u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32) {
                    Some(ch) if hex.len() == 4 => {
                        out.push(ch);
                        for _ in 0..4 {
                            chars.next();
                        }
                    }
                    _ => out.push('u'),
                }
            }
            Some(other) => out.push(other),
            None => {}
        }
    }
    out.trim_end().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn separators_comments_and_trimming() {
        let p = parse_properties(
            "# comment\n! also comment\n\n  broker.id=1\nlog.dirs : /a,/b  \nnum.partitions 3\nempty=\nkey.only\n",
        );
        assert_eq!(p["broker.id"], "1");
        assert_eq!(p["log.dirs"], "/a,/b");
        assert_eq!(p["num.partitions"], "3");
        assert_eq!(p["empty"], "");
        assert_eq!(p["key.only"], "");
        assert_eq!(p.len(), 5);
    }

    #[test]
    fn continuation_lines_and_escapes() {
        let p = parse_properties("listeners=PLAINTEXT://:9092,\\\n    INTERNAL://:9093\na\\=b=c\\td\\u0041\neven=x\\\\\nnext=1\n");
        assert_eq!(p["listeners"], "PLAINTEXT://:9092,INTERNAL://:9093");
        assert_eq!(p["a=b"], "c\tdA");
        assert_eq!(p["even"], "x\\");
        assert_eq!(p["next"], "1");
    }

    #[test]
    fn later_duplicates_win_and_colon_in_value_is_kept() {
        let p = parse_properties("zookeeper.connect=a:2181\nzookeeper.connect=b:2181/kafka\n");
        assert_eq!(p["zookeeper.connect"], "b:2181/kafka");
    }

    proptest::proptest! {
        #[test]
        fn never_panics(text in "(?s).{0,200}") {
            let _ = parse_properties(&text);
        }

        #[test]
        fn simple_pairs_round_trip(key in "[a-z][a-z.]{0,20}", value in "[a-zA-Z0-9/:,._-]{0,30}") {
            let p = parse_properties(&format!("{key}={value}\n"));
            proptest::prop_assert_eq!(p.get(&key), Some(&value));
        }
    }
}
