//! `zkafka lab compare A.json B.json ...`: several results side by side (zkafka vs Kafka, session
//! timeouts, partition counts), as a table of medians and spreads and one chart, in
//! `compare.html` (self-contained) and `compare.svg`.

use std::fmt::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;

use super::chart::{compare_svg, escape};
use super::report::STYLE;
use super::result::{read_json, LabResult};

/// Reads the results and writes `compare.html` and `compare.svg` into `out`.
pub fn run(inputs: &[PathBuf], out: &Path) -> anyhow::Result<()> {
    let mut results = Vec::new();
    for path in inputs {
        let r = read_json(path)?;
        results.push((format!("{} ({})", r.label, r.settings.fault), r));
    }
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let svg = compare_svg(&results);
    std::fs::write(out.join("compare.svg"), &svg)?;
    std::fs::write(out.join("compare.html"), html(&results, &svg))?;
    Ok(())
}

fn html(results: &[(String, LabResult)], svg: &str) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>zkafka lab compare</title><style>{STYLE}</style></head><body><h1>Downtime lab: {} results</h1><div class=\"chart\">{svg}</div>",
        results.len()
    );
    out.push_str("<table><tr><th>result</th><th>partitions</th><th>session timeout</th><th>runs</th><th>median p50</th><th>median p99</th><th>median max</th><th>max: min–max</th><th>lost</th><th>duplicated</th></tr>");
    for (name, r) in results {
        let m = &r.summary;
        let s = &r.settings;
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{} ms</td><td>{}</td><td>{} ms</td><td>{} ms</td><td>{} ms</td><td>{}–{} ms</td><td>{}</td><td>{}</td></tr>",
            escape(name),
            s.topics as i64 * i64::from(s.partitions_per_topic),
            s.session_timeout_ms,
            m.runs,
            m.p50_ms_median,
            m.p99_ms_median,
            m.max_ms_median,
            m.max_ms_min,
            m.max_ms_max,
            m.lost_total,
            m.duplicated_total
        );
    }
    out.push_str("</table><h2>Commands</h2><ul>");
    for (name, r) in results {
        let _ = write!(
            out,
            "<li>{}: <code>{}</code></li>",
            escape(name),
            escape(&r.settings.command)
        );
    }
    out.push_str("</ul></body></html>\n");
    out
}
