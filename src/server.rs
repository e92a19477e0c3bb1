//! (being written) Broker start-up and shutdown.

/// Runs a broker from a `server.properties` file plus `--override key=value` pairs, until SIGTERM.
pub fn main(properties: &std::path::Path, overrides: &[(String, String)]) -> anyhow::Result<()> {
    let _ = (properties, overrides);
    Ok(())
}
