//! Kafka's `sasl.jaas.config` values: `<LoginModule> <flag> key="value" ... ;`, as Java's
//! `ConfigFile` parses one login module entry. zkafka needs only the options: the broker's own
//! `username`/`password` and PLAIN's `user_<name>="<password>"` users.

use std::collections::BTreeMap;

/// The options of a one-module JAAS config, or why it does not parse.
pub fn parse_jaas(value: &str) -> Result<BTreeMap<String, String>, String> {
    let mut rest = value.trim();
    let module = next_word(&mut rest).ok_or("the JAAS config names no login module")?;
    let flag = next_word(&mut rest).ok_or("the JAAS config has no control flag")?;
    if !["required", "requisite", "sufficient", "optional"]
        .contains(&flag.to_ascii_lowercase().as_str())
    {
        return Err(format!(
            "login module {module}: unknown control flag {flag:?}"
        ));
    }
    let mut options = BTreeMap::new();
    loop {
        rest = rest.trim_start();
        if let Some(after) = rest.strip_prefix(';') {
            if !after.trim().is_empty() {
                return Err("sasl.jaas.config must hold exactly one login module".into());
            }
            return Ok(options);
        }
        let (key, after) = rest
            .split_once('=')
            .ok_or("the JAAS config must end with ';' after key=value options")?;
        let key = key.trim();
        if key.is_empty() || key.contains(char::is_whitespace) {
            return Err(format!("invalid JAAS option name {key:?}"));
        }
        let after = after.trim_start();
        let (value, remaining) = if let Some(quoted) = after.strip_prefix('"') {
            let end = quoted
                .find('"')
                .ok_or_else(|| format!("option {key}: unclosed quote"))?;
            (quoted[..end].to_owned(), &quoted[end + 1..])
        } else {
            let end = after
                .find(|c: char| c.is_whitespace() || c == ';')
                .unwrap_or(after.len());
            (after[..end].to_owned(), &after[end..])
        };
        options.insert(key.to_owned(), value);
        rest = remaining;
    }
}

fn next_word<'a>(rest: &mut &'a str) -> Option<&'a str> {
    let s = rest.trim_start();
    let end = s.find(char::is_whitespace).unwrap_or(s.len());
    if end == 0 {
        return None;
    }
    *rest = &s[end..];
    Some(&s[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_kafkas_plain_login_module() {
        let o = parse_jaas(
            r#"org.apache.kafka.common.security.plain.PlainLoginModule required
               username="admin" password="admin-secret" user_admin="admin-secret" user_alice=alice-secret;"#,
        )
        .unwrap();
        assert_eq!(o["username"], "admin");
        assert_eq!(o["user_alice"], "alice-secret");
        assert_eq!(o.len(), 4);
        assert!(parse_jaas("X required a=\"b\"").is_err());
        assert!(parse_jaas("X maybe a=b;").is_err());
        assert!(parse_jaas("X required a=b; Y required;").is_err());
    }
}
