//! An Apache Kafka 3.9 broker for `--start kafka`, started the way scripts/kafka-reference.sh and
//! integration/reference.py start one: Kafka's jars from the cache scripts/kafka-java.sh fills
//! (`${ZKAFKA_CACHE:-~/.cache/zkafka}/kafka-${KAFKA_VERSION:-3.9.2}/libs`), Kafka's own
//! kafka-server-start.sh JVM flags, `KAFKA_HEAP` (default `-Xms512m -Xmx512m`). Its log4j
//! configuration is written by the lab so the controller log (`controller-<id>.log`, logger
//! `kafka.controller` at TRACE, as Kafka's own config/log4j.properties has it) and the state-change
//! log (`state-change-<id>.log`, at TRACE so the controller's received responses are in it) carry
//! UTC timestamps to the millisecond that [`super::kafka_log`] reads.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::bail;

/// The `-D` property the log4j configuration names its files by.
const BROKER_PROPERTY: &str = "zkafka.lab.broker";

/// The directory of Kafka's jars, as scripts/kafka-java.sh leaves it (complete when `.complete`
/// is in it); the lab does not download them itself.
pub fn kafka_libs() -> anyhow::Result<PathBuf> {
    let version = std::env::var("KAFKA_VERSION").unwrap_or_else(|_| "3.9.2".into());
    let cache = match std::env::var_os("ZKAFKA_CACHE") {
        Some(c) => PathBuf::from(c),
        None => match std::env::var_os("HOME") {
            Some(h) => Path::new(&h).join(".cache/zkafka"),
            None => bail!("neither ZKAFKA_CACHE nor HOME is set: cannot find Kafka's jars"),
        },
    };
    let libs = cache.join(format!("kafka-{version}/libs"));
    if !libs.join(".complete").exists() {
        bail!(
            "Kafka {version}'s jars are not in {} (run scripts/kafka-java.sh broker {version} once)",
            libs.display()
        );
    }
    Ok(libs)
}

/// The log4j 1.x configuration of the lab's Kafka brokers, into `dir/kafka-log4j.properties`.
/// Everything else goes to stdout (the broker's `broker-<id>.log`), as reference/log4j.properties.
pub fn write_log4j(dir: &Path) -> anyhow::Result<PathBuf> {
    let path = dir.join("kafka-log4j.properties");
    let layout = "org.apache.log4j.PatternLayout";
    let pattern = "[%d{yyyy-MM-dd HH:mm:ss,SSS}] %p %m (%c)%n";
    let mut text = format!(
        "log4j.rootLogger=INFO, stdout\n\
         log4j.appender.stdout=org.apache.log4j.ConsoleAppender\n\
         log4j.appender.stdout.layout={layout}\n\
         log4j.appender.stdout.layout.ConversionPattern={pattern}\n\
         log4j.logger.kafka.request.logger=WARN\n"
    );
    for (appender, file, logger) in [
        ("controller", "controller", "kafka.controller"),
        ("stateChange", "state-change", "state.change.logger"),
    ] {
        text.push_str(&format!(
            "log4j.appender.{appender}=org.apache.log4j.FileAppender\n\
             log4j.appender.{appender}.File={}/{file}-${{{BROKER_PROPERTY}}}.log\n\
             log4j.appender.{appender}.layout={layout}\n\
             log4j.appender.{appender}.layout.ConversionPattern={pattern}\n\
             log4j.logger.{logger}=TRACE, {appender}\n\
             log4j.additivity.{logger}=false\n",
            dir.display()
        ));
    }
    std::fs::write(&path, text)?;
    Ok(path)
}

/// The controller log of broker `id` under `dir`.
pub fn controller_log(dir: &Path, id: i32) -> PathBuf {
    dir.join(format!("controller-{id}.log"))
}

/// The state-change log of broker `id` under `dir`.
pub fn state_change_log(dir: &Path, id: i32) -> PathBuf {
    dir.join(format!("state-change-{id}.log"))
}

/// `java ... kafka.Kafka <conf>` for broker `id` (the JVM clock in UTC, so the logs are).
pub fn command(libs: &Path, log4j: &Path, id: i32, conf: &Path) -> Command {
    let heap = std::env::var("KAFKA_HEAP").unwrap_or_else(|_| "-Xms512m -Xmx512m".into());
    let mut cmd = Command::new("java");
    cmd.args(heap.split_whitespace())
        .args([
            "-server",
            "-XX:+UseG1GC",
            "-XX:MaxGCPauseMillis=20",
            "-XX:InitiatingHeapOccupancyPercent=35",
            "-XX:+ExplicitGCInvokesConcurrent",
            "-XX:MaxInlineLevel=15",
            "-Djava.awt.headless=true",
            "-Duser.timezone=UTC",
        ])
        .arg(format!("-D{BROKER_PROPERTY}={id}"))
        .arg(format!("-Dlog4j.configuration=file:{}", log4j.display()))
        .arg("-cp")
        .arg(format!("{}/*", libs.display()))
        .arg("kafka.Kafka")
        .arg(conf);
    cmd
}
