//! `report.html` (self-contained: inline SVG and CSS, no script, nothing fetched) and `report.svg`
//! (the first run's chart) of one `zkafka lab failover` result.

use std::fmt::Write;

use super::chart::{escape, run_svg};
use super::result::{LabResult, RunResult};

pub const STYLE: &str = "body{font-family:sans-serif;margin:2em;max-width:1000px}\
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:3px 8px;\
text-align:right}th{background:#f4f4f4}td:first-child,th:first-child{text-align:left}\
code{background:#f4f4f4;padding:1px 4px}";

/// The chart's title for run `run` of `result`.
pub fn title(result: &LabResult, run: &RunResult) -> String {
    format!(
        "{}: {} broker {}{}, run {} of {}",
        result.label,
        result.settings.fault,
        run.fault_broker,
        if run.fault_broker_was_controller {
            " (the controller)"
        } else {
            ""
        },
        run.repetition,
        result.runs.len()
    )
}

pub fn svg(result: &LabResult) -> String {
    match result.runs.first() {
        Some(run) => run_svg(run, &title(result, run)),
        None => String::from("<svg xmlns=\"http://www.w3.org/2000/svg\"/>\n"),
    }
}

pub fn html(result: &LabResult) -> String {
    let s = &result.settings;
    let mut out = String::new();
    let _ = write!(
        out,
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>{}</title><style>{STYLE}</style></head><body><h1>{}</h1><p><code>{}</code></p>",
        escape(&result.label),
        escape(&result.label),
        escape(&s.command)
    );
    let _ = write!(
        out,
        "<table><tr><th>target</th><th>brokers</th><th>topics × partitions</th><th>RF</th><th>min ISR</th><th>rate/partition</th><th>acks</th><th>session timeout</th><th>fault</th></tr>\
         <tr><td>{}</td><td>{}</td><td>{} × {}</td><td>{}</td><td>{}</td><td>{}/s</td><td>{}</td><td>{} ms</td><td>{}</td></tr></table>",
        escape(&result.target),
        s.brokers,
        s.topics,
        s.partitions_per_topic,
        s.replication_factor,
        s.min_insync_replicas,
        s.rate_per_partition,
        s.acks,
        s.session_timeout_ms,
        escape(&s.fault)
    );
    let m = &result.summary;
    let _ = write!(
        out,
        "<h2>Summary over {} runs</h2><table><tr><th>median p50</th><th>median p99</th><th>median max</th><th>max: min–max of runs</th><th>acknowledged lost</th><th>duplicated</th></tr>\
         <tr><td>{} ms</td><td>{} ms</td><td>{} ms</td><td>{}–{} ms</td><td>{}</td><td>{}</td></tr></table>",
        m.runs, m.p50_ms_median, m.p99_ms_median, m.max_ms_median, m.max_ms_min, m.max_ms_max, m.lost_total, m.duplicated_total
    );
    for run in &result.runs {
        let _ = write!(
            out,
            "<h2>Run {}</h2><div class=\"chart\">{}</div>",
            run.repetition,
            run_svg(run, &title(result, run))
        );
        let st = &run.stats;
        let v = &run.verification;
        let _ = write!(
            out,
            "<table><tr><th>partitions led by broker {}</th><th>p50</th><th>p99</th><th>max</th><th>min</th><th>never recovered</th><th>acknowledged</th><th>read back</th><th>lost</th><th>duplicated</th><th>unreadable partitions</th></tr>\
             <tr><td>{}</td><td>{} ms</td><td>{} ms</td><td>{} ms</td><td>{} ms</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr></table>",
            run.fault_broker, st.affected_partitions, st.p50_ms, st.p99_ms, st.max_ms, st.min_ms, st.never_recovered,
            v.acked, v.read_back, v.lost, v.duplicated, v.unreadable_partitions
        );
        out.push_str("<table><tr><th>phase</th><th>after the fault</th><th>source</th><th>event (seq)</th><th>controller</th><th>partitions</th><th>brokers</th></tr>");
        for p in &run.phases {
            let _ = write!(
                out,
                "<tr><td>{}</td><td>{} ms</td><td>{}</td><td>{} ({})</td><td>{}</td><td>{}</td><td>{:?}</td></tr>",
                escape(&p.phase),
                p.ts_ms - run.fault_ms,
                escape(&p.source),
                escape(&p.event),
                p.seq,
                p.controller,
                p.partitions,
                p.brokers
            );
        }
        out.push_str("</table>");
    }
    out.push_str("</body></html>\n");
    out
}
