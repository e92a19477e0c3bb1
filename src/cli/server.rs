//! `zkafka server <file.properties> [--override key=value]...`, like `kafka-server-start.sh`.

use std::path::PathBuf;

use anyhow::bail;
use clap::Args;

#[derive(Debug, Args)]
pub struct ServerArgs {
    /// The broker's server.properties file.
    pub properties: PathBuf,
    /// Override a property of the file, as `key=value` (repeatable).
    #[arg(long = "override", value_name = "KEY=VALUE")]
    pub overrides: Vec<String>,
}

/// Splits `key=value` at the first `=`; values may themselves contain `=`.
pub fn parse_override(s: &str) -> anyhow::Result<(String, String)> {
    match s.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_owned(), v.to_owned())),
        _ => bail!("invalid --override '{s}': expected key=value"),
    }
}

pub fn run(args: ServerArgs) -> anyhow::Result<()> {
    let overrides = args
        .overrides
        .iter()
        .map(|s| parse_override(s))
        .collect::<anyhow::Result<Vec<_>>>()?;
    crate::server::main(&args.properties, &overrides)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Cli, Command};
    use clap::Parser;

    #[test]
    fn parses_file_and_overrides() {
        let cli = Cli::try_parse_from([
            "zkafka",
            "server",
            "config/server-1.properties",
            "--override",
            "broker.id=7",
            "--override",
            "log.dirs=/tmp/a=b",
        ])
        .unwrap();
        let Command::Server(args) = cli.command else {
            panic!("not server")
        };
        assert_eq!(args.properties, PathBuf::from("config/server-1.properties"));
        let parsed: Vec<_> = args
            .overrides
            .iter()
            .map(|s| parse_override(s).unwrap())
            .collect();
        assert_eq!(
            parsed,
            vec![
                ("broker.id".into(), "7".into()),
                ("log.dirs".into(), "/tmp/a=b".into())
            ]
        );
    }

    #[test]
    fn malformed_override_is_one_line_error() {
        let err = parse_override("broker.id").unwrap_err();
        assert_eq!(
            crate::cli::error_line(&err),
            "zkafka: error: invalid --override 'broker.id': expected key=value"
        );
        assert!(parse_override("=1").is_err());
        let err = run(ServerArgs {
            properties: "x.properties".into(),
            overrides: vec!["nope".into()],
        })
        .unwrap_err();
        assert!(err.to_string().contains("invalid --override 'nope'"));
    }
}
