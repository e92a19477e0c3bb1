//! Typed reads of a properties map with Kafka's parsing rules and this crate's one-line errors.
//! Every key read is remembered with its default and type, so whatever was never asked for can be
//! reported as unknown, and DescribeConfigs can list every broker key with its default.

use std::collections::BTreeMap;

use super::error::ConfigError;

/// What the reader knows about a key: Kafka's default (as text; `None` for keys without one) and
/// Kafka's config type id (1 BOOLEAN, 2 STRING, 3 INT, 5 LONG, 6 DOUBLE, 7 LIST).
#[derive(Debug, Clone, PartialEq)]
pub struct KeyInfo {
    /// The default value, as DescribeConfigs shows it.
    pub default: Option<String>,
    /// Kafka's config type id.
    pub config_type: i8,
}

/// A properties map being read.
#[derive(Debug)]
pub(crate) struct Props<'a> {
    map: &'a BTreeMap<String, String>,
    read: BTreeMap<&'static str, KeyInfo>,
    /// Keys built at run time (`listener.name.<l>.<key>`), read but not listed by DescribeConfigs.
    read_owned: std::collections::BTreeSet<String>,
}

impl<'a> Props<'a> {
    pub(crate) fn new(map: &'a BTreeMap<String, String>) -> Self {
        Props {
            map,
            read: BTreeMap::new(),
            read_owned: Default::default(),
        }
    }

    /// The raw value, trimmed, if set.
    pub(crate) fn raw(&mut self, key: &'static str) -> Option<&'a str> {
        self.read.entry(key).or_insert(KeyInfo {
            default: None,
            config_type: 2,
        });
        self.map.get(key).map(|v| v.trim())
    }

    /// The raw value of a key whose name is built at run time, trimmed, if set.
    pub(crate) fn raw_owned(&mut self, key: &str) -> Option<&'a str> {
        self.read_owned.insert(key.to_owned());
        self.map.get(key).map(|v| v.trim())
    }

    /// Records `key`'s default and type (for [`Props::into_known`]).
    pub(crate) fn note(&mut self, key: &'static str, default: Option<String>, config_type: i8) {
        self.read.insert(
            key,
            KeyInfo {
                default,
                config_type,
            },
        );
    }

    /// Every key read, with its default and type.
    pub(crate) fn into_known(self) -> BTreeMap<&'static str, KeyInfo> {
        self.read
    }

    /// Keys present in the map that nothing read.
    pub(crate) fn unread(&self) -> impl Iterator<Item = (&'a String, &'a String)> + '_ {
        self.map
            .iter()
            .filter(|(k, _)| !self.read.contains_key(k.as_str()) && !self.read_owned.contains(*k))
    }

    pub(crate) fn string(&mut self, key: &'static str, default: &str) -> String {
        self.note(key, Some(default.to_owned()), 2);
        self.raw(key).unwrap_or(default).to_owned()
    }

    pub(crate) fn opt_string(&mut self, key: &'static str) -> Option<String> {
        self.note(key, None, 2);
        self.raw(key).filter(|v| !v.is_empty()).map(str::to_owned)
    }

    /// A comma-separated list, entries trimmed, empty entries dropped.
    pub(crate) fn list(&mut self, key: &'static str, default: &str) -> Vec<String> {
        self.note(key, Some(default.to_owned()), 7);
        split_list(self.raw(key).unwrap_or(default))
    }

    pub(crate) fn boolean(
        &mut self,
        key: &'static str,
        default: bool,
    ) -> Result<bool, ConfigError> {
        self.note(key, Some(default.to_string()), 1);
        match self.raw(key) {
            None => Ok(default),
            Some(v) => parse_bool(key, v),
        }
    }

    pub(crate) fn int(
        &mut self,
        key: &'static str,
        default: i32,
        min: i32,
    ) -> Result<i32, ConfigError> {
        self.note(key, Some(default.to_string()), 3);
        match self.raw(key) {
            None => Ok(default),
            Some(v) => parse_int(key, v, min, i32::MAX),
        }
    }

    pub(crate) fn opt_int(
        &mut self,
        key: &'static str,
        min: i32,
    ) -> Result<Option<i32>, ConfigError> {
        self.note(key, None, 3);
        self.raw(key)
            .map(|v| parse_int(key, v, min, i32::MAX))
            .transpose()
    }

    pub(crate) fn long(
        &mut self,
        key: &'static str,
        default: i64,
        min: i64,
    ) -> Result<i64, ConfigError> {
        self.note(key, Some(default.to_string()), 5);
        match self.raw(key) {
            None => Ok(default),
            Some(v) => parse_long(key, v, min),
        }
    }

    pub(crate) fn opt_long(
        &mut self,
        key: &'static str,
        min: i64,
    ) -> Result<Option<i64>, ConfigError> {
        self.note(key, None, 5);
        self.raw(key).map(|v| parse_long(key, v, min)).transpose()
    }

    pub(crate) fn double(
        &mut self,
        key: &'static str,
        default: f64,
        min: f64,
        max: f64,
    ) -> Result<f64, ConfigError> {
        self.note(key, Some(default.to_string()), 6);
        match self.raw(key) {
            None => Ok(default),
            Some(v) => parse_double(key, v, min, max),
        }
    }

    /// A value that must be one of `allowed` (compared case-sensitively, as Kafka's `ValidString`).
    pub(crate) fn one_of(
        &mut self,
        key: &'static str,
        default: &str,
        allowed: &[&str],
    ) -> Result<String, ConfigError> {
        self.note(key, Some(default.to_owned()), 2);
        let v = self.raw(key).unwrap_or(default);
        check_one_of(key, v, allowed)?;
        Ok(v.to_owned())
    }
}

pub(crate) fn split_list(v: &str) -> Vec<String> {
    v.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

pub(crate) fn parse_bool(key: &str, v: &str) -> Result<bool, ConfigError> {
    match v.trim().to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(ConfigError::invalid(
            key,
            v,
            "not a boolean (expected true or false)",
        )),
    }
}

pub(crate) fn parse_int(key: &str, v: &str, min: i32, max: i32) -> Result<i32, ConfigError> {
    let n: i32 = v
        .trim()
        .parse()
        .map_err(|_| ConfigError::invalid(key, v, "not an integer"))?;
    check_range(key, v, i64::from(n), i64::from(min), i64::from(max))?;
    Ok(n)
}

pub(crate) fn parse_long(key: &str, v: &str, min: i64) -> Result<i64, ConfigError> {
    let n: i64 = v
        .trim()
        .parse()
        .map_err(|_| ConfigError::invalid(key, v, "not a long integer"))?;
    check_range(key, v, n, min, i64::MAX)?;
    Ok(n)
}

pub(crate) fn parse_double(key: &str, v: &str, min: f64, max: f64) -> Result<f64, ConfigError> {
    let n: f64 = v
        .trim()
        .parse()
        .map_err(|_| ConfigError::invalid(key, v, "not a number"))?;
    if !(min..=max).contains(&n) {
        return Err(ConfigError::invalid(
            key,
            v,
            format!("must be between {min} and {max}"),
        ));
    }
    Ok(n)
}

fn check_range(key: &str, v: &str, n: i64, min: i64, max: i64) -> Result<(), ConfigError> {
    if n < min {
        return Err(ConfigError::invalid(
            key,
            v,
            format!("must be at least {min}"),
        ));
    }
    if n > max {
        return Err(ConfigError::invalid(
            key,
            v,
            format!("must be at most {max}"),
        ));
    }
    Ok(())
}

pub(crate) fn check_one_of(key: &str, v: &str, allowed: &[&str]) -> Result<(), ConfigError> {
    if allowed.contains(&v) {
        Ok(())
    } else {
        Err(ConfigError::invalid(
            key,
            v,
            format!("must be one of {}", allowed.join(", ")),
        ))
    }
}
