//! Config synonyms for DescribeConfigs (Kafka's `DynamicBrokerConfig.brokerConfigSynonyms` and
//! `ZkAdminManager.configSynonyms`): the broker keys a value can come from, each with the layer it
//! is set in, in Kafka's order of precedence. `kafka-configs --describe` prints them, so they
//! follow Kafka's rules exactly, quirks included.

use std::collections::BTreeMap;

use super::broker::KafkaConfig;
use super::registry::BROKER_KEYS;
use super::topic::ConfigSource;

/// One synonym of a described config.
#[derive(Debug, Clone, PartialEq)]
pub struct Synonym {
    /// The key (a topic key for a topic override, else a broker key).
    pub name: String,
    /// Its value there (`None` for a sensitive key).
    pub value: Option<String>,
    /// The layer it is set in.
    pub source: ConfigSource,
}

/// The broker keys that set the same thing as broker key `name`, in precedence order (Kafka's
/// `brokerConfigSynonyms`; zkafka has no per-listener keys, so no listener prefixes).
pub fn broker_config_synonyms(name: &str) -> Vec<&str> {
    const GROUPS: &[&[&str]] = &[
        &["log.roll.ms", "log.roll.hours"],
        &["log.roll.jitter.ms", "log.roll.jitter.hours"],
        &[
            "log.retention.ms",
            "log.retention.minutes",
            "log.retention.hours",
        ],
    ];
    if name == "log.flush.interval.ms" {
        // log.flush.scheduler.interval.ms is its default.
        return vec![name, "log.flush.scheduler.interval.ms"];
    }
    GROUPS
        .iter()
        .find(|g| g.contains(&name))
        .map_or_else(|| vec![name], |g| g.to_vec())
}

/// Whether a broker key's value is hidden (Kafka's PASSWORD type).
pub(crate) fn is_sensitive(name: &str) -> bool {
    name.contains("password")
        || name.ends_with("sasl.jaas.config")
        || name.ends_with("ssl.keystore.key")
}

impl KafkaConfig {
    /// Kafka's default for broker key `name` as DescribeConfigs shows it, if it has one.
    fn default_text(&self, name: &str) -> Option<String> {
        match self.known.get(name) {
            Some(info) => info.default.clone(),
            None => BROKER_KEYS
                .iter()
                .find(|d| d.name == name)
                .and_then(|d| d.default_value()),
        }
    }

    /// The synonyms of broker key `primary` whose group is `names`: every dynamic per-broker
    /// setting, every dynamic default, every static setting, then every Kafka default, dropping those before the first entry named `primary` (Kafka's
    /// `dropWhile`, meant for listener overrides: so `log.retention.hours=1` alone is not listed as
    /// a synonym of `log.retention.ms`). `with_static` is false for keys zkafka does not implement,
    /// whose set value takes no effect.
    pub(crate) fn synonyms<'a>(
        &'a self,
        primary: &str,
        names: &[&str],
        with_static: bool,
    ) -> Vec<Synonym> {
        let hide = |name: &str, v: String| (!is_sensitive(name)).then_some(v);
        let layer = |map: &'a BTreeMap<String, String>, source: ConfigSource| {
            names.iter().filter_map(move |n| {
                Some(Synonym {
                    name: (*n).to_owned(),
                    value: hide(n, map.get(*n)?.clone()),
                    source,
                })
            })
        };
        let dynamic = layer(&self.dynamic_broker, ConfigSource::DynamicBrokerConfig).chain(layer(
            &self.dynamic_default,
            ConfigSource::DynamicDefaultBrokerConfig,
        ));
        let statics = names.iter().filter(|_| with_static).filter_map(|n| {
            let v = self.explicit.get(*n)?;
            Some(Synonym {
                name: (*n).to_owned(),
                value: hide(n, v.clone()),
                source: ConfigSource::StaticBrokerConfig,
            })
        });
        let defaults = names.iter().filter_map(|n| {
            Some(Synonym {
                name: (*n).to_owned(),
                value: hide(n, self.default_text(n)?),
                source: ConfigSource::DefaultConfig,
            })
        });
        dynamic
            .chain(statics)
            .chain(defaults)
            .skip_while(|s| s.name != primary)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(props: &[(&str, &str)]) -> KafkaConfig {
        let mut all = vec![("zookeeper.connect", "localhost:2181")];
        all.extend_from_slice(props);
        KafkaConfig::from_properties(all).expect("valid config").0
    }

    fn listed(s: &[Synonym]) -> Vec<(String, Option<String>, ConfigSource)> {
        s.iter()
            .map(|s| (s.name.clone(), s.value.clone(), s.source))
            .collect()
    }

    #[test]
    fn groups_are_kafkas() {
        assert_eq!(
            broker_config_synonyms("log.retention.hours"),
            [
                "log.retention.ms",
                "log.retention.minutes",
                "log.retention.hours"
            ]
        );
        assert_eq!(
            broker_config_synonyms("log.flush.interval.ms"),
            ["log.flush.interval.ms", "log.flush.scheduler.interval.ms"]
        );
        assert_eq!(broker_config_synonyms("num.partitions"), ["num.partitions"]);
    }

    #[test]
    fn static_settings_then_defaults_from_the_primary_key_on() {
        let c = config(&[("log.retention.ms", "1000")]);
        let names = broker_config_synonyms("log.retention.ms");
        assert_eq!(
            listed(&c.synonyms("log.retention.ms", &names, true)),
            [
                (
                    "log.retention.ms".into(),
                    Some("1000".into()),
                    ConfigSource::StaticBrokerConfig
                ),
                (
                    "log.retention.hours".into(),
                    Some("168".into()),
                    ConfigSource::DefaultConfig
                ),
            ]
        );
        // Kafka's dropWhile: hours alone is not a synonym of the ms key.
        let c = config(&[("log.retention.hours", "1")]);
        assert!(c.synonyms("log.retention.ms", &names, true).is_empty());
        assert_eq!(
            listed(&c.synonyms("log.retention.hours", &names, true)),
            [
                (
                    "log.retention.hours".into(),
                    Some("1".into()),
                    ConfigSource::StaticBrokerConfig
                ),
                (
                    "log.retention.hours".into(),
                    Some("168".into()),
                    ConfigSource::DefaultConfig
                ),
            ]
        );
        // A set value of a key zkafka does not act on is not listed.
        let c = config(&[("num.io.threads", "4")]);
        assert_eq!(
            listed(&c.synonyms("num.io.threads", &["num.io.threads"], false)),
            [(
                "num.io.threads".into(),
                Some("8".into()),
                ConfigSource::DefaultConfig
            )]
        );
    }
}
