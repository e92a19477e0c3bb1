//! The faults the lab injects into a broker process, by signal (through `kill(1)`, so no unsafe
//! code): `kill` = SIGKILL (the broker vanishes; ZooKeeper notices when its session times out),
//! `stop:<s>` = SIGSTOP for s seconds then SIGCONT (a frozen broker: GC pause, VM stall),
//! `term` = SIGTERM (controlled shutdown), `controller` = SIGKILL of the controller's broker.

use std::process::Command;
use std::str::FromStr;
use std::time::Duration;

use anyhow::{bail, Context};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    Kill,
    Stop(Duration),
    Term,
    Controller,
}

impl FromStr for Fault {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "kill" => Ok(Fault::Kill),
            "term" => Ok(Fault::Term),
            "controller" => Ok(Fault::Controller),
            "stop" => Ok(Fault::Stop(Duration::from_secs(10))),
            _ => match s.strip_prefix("stop:").map(str::parse::<f64>) {
                Some(Ok(secs)) if secs > 0.0 => Ok(Fault::Stop(Duration::from_secs_f64(secs))),
                _ => Err(format!(
                    "unknown fault '{s}': expected kill, stop[:SECONDS], term or controller \
                     (zk-restart, zk-member and partition are not implemented yet)"
                )),
            },
        }
    }
}

impl std::fmt::Display for Fault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Fault::Kill => write!(f, "kill"),
            Fault::Stop(d) => write!(f, "stop:{}", d.as_secs_f64()),
            Fault::Term => write!(f, "term"),
            Fault::Controller => write!(f, "controller"),
        }
    }
}

impl Fault {
    /// Whether the broker hit is the controller rather than a non-controller leader.
    pub fn hits_controller(&self) -> bool {
        matches!(self, Fault::Controller)
    }

    /// Whether the broker process is gone afterwards (it must be restarted to be used again).
    pub fn ends_process(&self) -> bool {
        matches!(self, Fault::Kill | Fault::Term | Fault::Controller)
    }
}

/// Sends `signal` (a name `kill -s` knows) to `pid`.
pub fn signal(pid: u32, signal: &str) -> anyhow::Result<()> {
    let status = Command::new("kill")
        .args(["-s", signal, &pid.to_string()])
        .status()
        .with_context(|| format!("running kill -s {signal} {pid}"))?;
    if !status.success() {
        bail!("kill -s {signal} {pid} failed ({status})");
    }
    Ok(())
}

/// Injects the fault into `pid`; for `stop`, returns at once and resumes the process after the
/// pause on a background task.
pub fn inject(fault: Fault, pid: u32) -> anyhow::Result<()> {
    match fault {
        Fault::Kill | Fault::Controller => signal(pid, "KILL"),
        Fault::Term => signal(pid, "TERM"),
        Fault::Stop(pause) => {
            signal(pid, "STOP")?;
            tokio::spawn(async move {
                tokio::time::sleep(pause).await;
                if let Err(e) = signal(pid, "CONT") {
                    tracing::warn!(pid, error = %e, "cannot resume the stopped broker");
                }
            });
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_parse_and_print_back() {
        for s in ["kill", "term", "controller", "stop:2.5"] {
            assert_eq!(s.parse::<Fault>().map(|f| f.to_string()), Ok(s.to_string()));
        }
        assert_eq!(
            "stop".parse::<Fault>(),
            Ok(Fault::Stop(Duration::from_secs(10)))
        );
        assert!("zk-restart".parse::<Fault>().is_err());
        assert!("stop:-1".parse::<Fault>().is_err());
    }
}
