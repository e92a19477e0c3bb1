//! `zkafka perf produce|consume`: throughput/latency benchmarks in the style of Kafka's
//! kafka-producer-perf-test and kafka-consumer-perf-test, with the same output lines.

mod consume;
mod produce;
mod sender;
mod stats;

use clap::{Args, Subcommand};

#[derive(Debug, Args)]
pub struct PerfArgs {
    #[command(subcommand)]
    pub command: PerfCommand,
}

#[derive(Debug, Subcommand)]
pub enum PerfCommand {
    /// Produce records as fast as allowed and report throughput and latency.
    Produce(produce::ProduceArgs),
    /// Fetch records from offset 0 of every partition and report throughput.
    Consume(consume::ConsumeArgs),
}

pub async fn run(args: PerfArgs) -> anyhow::Result<()> {
    match args.command {
        PerfCommand::Produce(a) => produce::run(a).await,
        PerfCommand::Consume(a) => consume::run(a).await,
    }
}

#[cfg(test)]
mod tests;
