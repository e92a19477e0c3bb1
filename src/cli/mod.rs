//! The `zkafka` command line: `zkafka <subcommand>`, one module per subcommand, flags named
//! after Kafka's own `bin/*.sh` tools so their users need not relearn them.

#[cfg(test)]
mod fake_broker;
mod lab;
mod offsets;
mod perf;
mod server;
pub(crate) mod timefmt;
mod topics;

use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};

/// Kafka-compatible broker coordinated by Apache ZooKeeper, and its tools.
#[derive(Debug, Parser)]
#[command(name = "zkafka", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a broker (like kafka-server-start.sh).
    Server(server::ServerArgs),
    /// Create, list, describe or delete topics (like kafka-topics.sh).
    Topics(topics::TopicsArgs),
    /// Producer and consumer benchmarks (like kafka-producer-perf-test.sh / kafka-consumer-perf-test.sh).
    Perf(perf::PerfArgs),
    /// The downtime lab: leader re-election experiments with reports (docs/downtime.md).
    Lab(lab::LabArgs),
    /// Committed offsets: `migrate` copies a group's offsets between ZooKeeper and Kafka storage.
    Offsets(offsets::OffsetsArgs),
}

/// Entry point of the binary: parses arguments, runs the subcommand, and turns any error into
/// one line `zkafka: error: <context chain>` on stderr and exit code 1.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{}", error_line(&e));
            ExitCode::from(1)
        }
    }
}

/// `zkafka: error: outer: inner: root cause`.
pub fn error_line(e: &anyhow::Error) -> String {
    format!("zkafka: error: {e:#}")
}

/// Logs to stderr, filtered by `RUST_LOG` (default `info`), so stdout stays for tool output.
fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Server(args) => server::run(args),
        Command::Topics(args) => block_on(topics::run(args)),
        Command::Perf(args) => block_on(perf::run(args)),
        Command::Lab(args) => block_on(lab::run(args)),
        Command::Offsets(args) => block_on(offsets::run(args)),
    }
}

/// Client subcommands run on their own runtime; the server builds its own in `server::main`.
fn block_on<F: std::future::Future<Output = anyhow::Result<()>>>(f: F) -> anyhow::Result<()> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the tokio runtime")?
        .block_on(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_line_joins_context_chain() {
        let e = anyhow::anyhow!("root cause")
            .context("reading config/server.properties")
            .context("starting broker");
        assert_eq!(
            error_line(&e),
            "zkafka: error: starting broker: reading config/server.properties: root cause"
        );
    }

    #[test]
    fn cli_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
