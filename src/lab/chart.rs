//! The lab's charts as hand-written SVG (no plotting crate, no script, no network): the timeline
//! of one run (phases as bands, each partition's gap as a bar, p50/p99/max marked) over a histogram
//! of the unavailability, and the comparison of several results.
//!
//! Elements carry classes the tests look for: `rect.gap` (one per partition), `rect.hist`,
//! `line.mark`, `rect.phase`.

use std::fmt::Write;

use super::result::{LabResult, PhasePoint, RunResult};

const WIDTH: f64 = 960.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 20.0;
const LANE_TOP: f64 = 60.0;
const LANE_HEIGHT: f64 = 24.0;
const TIMELINE_TOP: f64 = LANE_TOP + LANE_HEIGHT + 6.0;
const TIMELINE_HEIGHT: f64 = 360.0;
const HIST_TOP: f64 = TIMELINE_TOP + TIMELINE_HEIGHT + 150.0;
const HIST_HEIGHT: f64 = 160.0;
const HEIGHT: f64 = HIST_TOP + HIST_HEIGHT + 50.0;
const BINS: usize = 30;

/// Phase band colours, cycled.
const BAND_COLOURS: [&str; 6] = [
    "#fde9c9", "#d9ecf8", "#e3f3dc", "#f1e0f5", "#fbe0e0", "#e8e8e8",
];

pub fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Maps milliseconds relative to the fault onto the plot's x range.
struct Axis {
    from_ms: f64,
    to_ms: f64,
}

impl Axis {
    fn x(&self, rel_ms: f64) -> f64 {
        let span = (self.to_ms - self.from_ms).max(1.0);
        LEFT + (rel_ms - self.from_ms) / span * (WIDTH - LEFT - RIGHT)
    }
}

/// A "nice" tick step for a span in ms.
fn tick_step(span_ms: f64) -> f64 {
    let raw = span_ms / 8.0;
    let pow = 10f64.powf(raw.max(1.0).log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * pow)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * pow)
}

fn x_ticks(out: &mut String, axis: &Axis, y_top: f64, y_bottom: f64) {
    let step = tick_step(axis.to_ms - axis.from_ms);
    let mut t = (axis.from_ms / step).ceil() * step;
    while t <= axis.to_ms {
        let x = axis.x(t);
        let _ = write!(
            out,
            r##"<line x1="{x:.1}" y1="{y_top:.1}" x2="{x:.1}" y2="{y_bottom:.1}" stroke="#ddd"/><text x="{x:.1}" y="{:.1}" font-size="11" text-anchor="middle">{:.1}s</text>"##,
            y_bottom + 14.0,
            t / 1000.0 + 0.0 // + 0.0 prints -0 as 0
        );
        t += step;
    }
}

/// The phases drawn as bands in a lane above the bars, each from its time to the next phase's
/// (the last one a thin band), with a line through the bars and a label below the axis where
/// there is room (the report's table lists them all).
fn phase_bands(out: &mut String, run: &RunResult, axis: &Axis) {
    let phases: Vec<&PhasePoint> = run.phases.iter().collect();
    let mut last_label = f64::MIN;
    for (i, p) in phases.iter().enumerate() {
        let rel = (p.ts_ms - run.fault_ms) as f64;
        let next = phases
            .get(i + 1)
            .map(|n| (n.ts_ms - run.fault_ms) as f64)
            .unwrap_or(rel);
        let x0 = axis.x(rel.max(axis.from_ms));
        let x1 = axis.x(next.min(axis.to_ms)).max(x0 + 1.5);
        let colour = BAND_COLOURS[i % BAND_COLOURS.len()];
        let label = format!("{} ({}, {})", p.phase, p.source, p.event);
        let _ = write!(
            out,
            r##"<rect class="phase" x="{x0:.1}" y="{LANE_TOP:.1}" width="{:.1}" height="{LANE_HEIGHT:.1}" fill="{colour}" stroke="#999" stroke-width="0.5"><title>{}</title></rect><line x1="{x0:.1}" y1="{TIMELINE_TOP:.1}" x2="{x0:.1}" y2="{:.1}" stroke="#555" stroke-width="0.5" stroke-dasharray="2,2"/>"##,
            x1 - x0,
            escape(&label),
            TIMELINE_TOP + TIMELINE_HEIGHT
        );
        if x0 - last_label < 11.0 {
            continue;
        }
        last_label = x0;
        let _ = write!(
            out,
            r##"<text x="{x0:.1}" y="{:.1}" font-size="10" transform="rotate(45 {x0:.1} {:.1})">{}</text>"##,
            TIMELINE_TOP + TIMELINE_HEIGHT + 24.0,
            TIMELINE_TOP + TIMELINE_HEIGHT + 24.0,
            escape(&p.phase)
        );
    }
}

/// The SVG of one run: timeline and histogram.
pub fn run_svg(run: &RunResult, title: &str) -> String {
    let mut parts: Vec<_> = run.partitions.iter().collect();
    parts.sort_by_key(|p| (p.unavailable_ms < 0, p.unavailable_ms, p.gap_ms));
    let earliest = parts
        .iter()
        .filter(|p| p.last_ack_before_ms >= 0)
        .map(|p| (p.last_ack_before_ms - run.fault_ms) as f64)
        .fold(-1000.0f64, f64::min)
        .max(-5000.0);
    let latest = parts
        .iter()
        .map(|p| p.unavailable_ms as f64)
        .chain(run.phases.iter().map(|p| (p.ts_ms - run.fault_ms) as f64))
        .fold(1000.0f64, f64::max);
    let axis = Axis {
        from_ms: earliest - 200.0,
        to_ms: latest * 1.05 + 200.0,
    };
    let mut out = String::new();
    let _ = write!(
        out,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif"><rect width="100%" height="100%" fill="white"/><text x="{LEFT}" y="24" font-size="16" font-weight="bold">{}</text><text x="{LEFT}" y="44" font-size="11">a row per partition: its gap in acknowledgements (red: led by the broker hit); top lane: controller phases</text>"##,
        escape(title)
    );
    let _ = write!(out, r#"<g id="timeline">"#);
    phase_bands(&mut out, run, &axis);
    x_ticks(
        &mut out,
        &axis,
        TIMELINE_TOP,
        TIMELINE_TOP + TIMELINE_HEIGHT,
    );
    let row = TIMELINE_HEIGHT / parts.len().max(1) as f64;
    for (i, p) in parts.iter().enumerate() {
        let y = TIMELINE_TOP + i as f64 * row;
        let end = if p.first_ack_after_ms >= 0 {
            (p.first_ack_after_ms - run.fault_ms) as f64
        } else {
            axis.to_ms
        };
        let start = if p.last_ack_before_ms >= 0 {
            (p.last_ack_before_ms - run.fault_ms) as f64
        } else {
            axis.from_ms
        };
        let x0 = axis.x(start);
        let w = (axis.x(end) - x0).max(1.0);
        let colour = if p.affected { "#c0392b" } else { "#7f8c8d" };
        let _ = write!(
            out,
            r##"<rect class="gap" data-partition="{}-{}" x="{x0:.1}" y="{y:.2}" width="{w:.1}" height="{:.2}" fill="{colour}"><title>{}-{}: gap {} ms, unavailable {} ms after the fault</title></rect>"##,
            escape(&p.topic),
            p.partition,
            (row * 0.85).max(0.3),
            escape(&p.topic),
            p.partition,
            p.gap_ms,
            p.unavailable_ms
        );
    }
    let fault_x = axis.x(0.0);
    let _ = write!(
        out,
        r##"<line x1="{fault_x:.1}" y1="{LANE_TOP}" x2="{fault_x:.1}" y2="{:.1}" stroke="black" stroke-width="2"/><text x="{fault_x:.1}" y="{:.1}" font-size="11" text-anchor="middle">fault</text>"##,
        TIMELINE_TOP + TIMELINE_HEIGHT,
        LANE_TOP - 4.0
    );
    for (name, v, colour) in [
        ("p50", run.stats.p50_ms, "#2471a3"),
        ("p99", run.stats.p99_ms, "#d68910"),
        ("max", run.stats.max_ms, "#7b241c"),
    ] {
        let x = axis.x(v as f64);
        let _ = write!(
            out,
            r##"<line class="mark" x1="{x:.1}" y1="{TIMELINE_TOP}" x2="{x:.1}" y2="{:.1}" stroke="{colour}" stroke-width="1.5" stroke-dasharray="5,3"/><text x="{:.1}" y="{:.1}" font-size="11" fill="{colour}">{name} {:.2}s</text>"##,
            TIMELINE_TOP + TIMELINE_HEIGHT,
            x + 3.0,
            TIMELINE_TOP
                + 12.0
                + 13.0
                    * ["p50", "p99", "max"]
                        .iter()
                        .position(|n| *n == name)
                        .unwrap_or(0) as f64,
            v as f64 / 1000.0
        );
    }
    let _ = write!(
        out,
        r##"<text x="14" y="{:.1}" font-size="11" transform="rotate(-90 14 {:.1})">{} partitions</text></g>"##,
        TIMELINE_TOP + TIMELINE_HEIGHT / 2.0,
        TIMELINE_TOP + TIMELINE_HEIGHT / 2.0,
        parts.len()
    );
    histogram(&mut out, run);
    out.push_str("</svg>\n");
    out
}

/// Histogram of `unavailable_ms` over the affected partitions (all when none was affected).
fn histogram(out: &mut String, run: &RunResult) {
    let any = run.partitions.iter().any(|p| p.affected);
    let values: Vec<i64> = run
        .partitions
        .iter()
        .filter(|p| (p.affected || !any) && p.unavailable_ms >= 0)
        .map(|p| p.unavailable_ms)
        .collect();
    // From 0, so the bins read as time since the fault.
    let max = values.iter().copied().max().unwrap_or(0).max(1) as f64;
    let min = 0.0;
    let span = max * 1.0001;
    let mut bins = [0usize; BINS];
    for v in &values {
        let b = (((*v as f64 - min) / span) * BINS as f64) as usize;
        bins[b.min(BINS - 1)] += 1;
    }
    let top = bins.iter().copied().max().unwrap_or(0).max(1) as f64;
    let w = (WIDTH - LEFT - RIGHT) / BINS as f64;
    let _ = write!(
        out,
        r##"<g id="histogram"><text x="{LEFT}" y="{:.1}" font-size="13" font-weight="bold">unavailability after the fault, {} partitions{}</text><line x1="{LEFT}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="black"/>"##,
        HIST_TOP - 10.0,
        values.len(),
        if any { " led by the broker hit" } else { "" },
        HIST_TOP + HIST_HEIGHT,
        WIDTH - RIGHT,
        HIST_TOP + HIST_HEIGHT
    );
    for (i, n) in bins.iter().enumerate() {
        let h = *n as f64 / top * HIST_HEIGHT;
        let x = LEFT + i as f64 * w;
        let lo = min + span * i as f64 / BINS as f64;
        let _ = write!(
            out,
            r##"<rect class="hist" x="{x:.1}" y="{:.1}" width="{:.1}" height="{h:.1}" fill="#c0392b"><title>{:.0}–{:.0} ms: {n}</title></rect>"##,
            HIST_TOP + HIST_HEIGHT - h,
            (w - 1.0).max(0.5),
            lo,
            lo + span / BINS as f64
        );
    }
    for i in [0, BINS / 2, BINS] {
        let x = LEFT + i as f64 * w;
        let _ = write!(
            out,
            r##"<text x="{x:.1}" y="{:.1}" font-size="11" text-anchor="middle">{:.2}s</text>"##,
            HIST_TOP + HIST_HEIGHT + 14.0,
            (min + span * i as f64 / BINS as f64) / 1000.0
        );
    }
    let _ = write!(
        out,
        r##"<text x="{:.1}" y="{:.1}" font-size="11">{top} partitions</text></g>"##,
        LEFT + 4.0,
        HIST_TOP + 10.0
    );
}

/// Several results side by side: per result, each run's p50, p99 and max as ticks on one row,
/// with the medians as bars.
pub fn compare_svg(results: &[(String, LabResult)]) -> String {
    let row_h = 44.0;
    let top = 50.0;
    let height = top + row_h * results.len() as f64 + 50.0;
    let label_w = 260.0;
    let max = results
        .iter()
        .flat_map(|(_, r)| r.runs.iter().map(|run| run.stats.max_ms))
        .max()
        .unwrap_or(0)
        .max(1) as f64
        * 1.05;
    let x = |ms: f64| label_w + ms / max * (WIDTH - label_w - RIGHT);
    let mut out = String::new();
    let _ = write!(
        out,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" font-family="sans-serif"><rect width="100%" height="100%" fill="white"/><text x="10" y="22" font-size="15" font-weight="bold">unavailability after the fault (per run: p50 blue, p99 orange, max red; bars: medians of the runs)</text>"##
    );
    let step = tick_step(max);
    let mut t = 0.0;
    while t <= max {
        let _ = write!(
            out,
            r##"<line x1="{:.1}" y1="{top}" x2="{:.1}" y2="{:.1}" stroke="#ddd"/><text x="{:.1}" y="{:.1}" font-size="11" text-anchor="middle">{:.1}s</text>"##,
            x(t),
            x(t),
            height - 40.0,
            x(t),
            height - 26.0,
            t / 1000.0
        );
        t += step;
    }
    for (i, (name, r)) in results.iter().enumerate() {
        let y = top + i as f64 * row_h;
        let _ = write!(
            out,
            r##"<g class="result"><text x="10" y="{:.1}" font-size="12">{}</text><rect class="median" x="{:.1}" y="{:.1}" width="{:.1}" height="10" fill="#f5b7b1"/><rect x="{:.1}" y="{:.1}" width="{:.1}" height="10" fill="#aed6f1"/>"##,
            y + 20.0,
            escape(name),
            label_w,
            y + 8.0,
            x(r.summary.max_ms_median as f64) - label_w,
            label_w,
            y + 8.0,
            x(r.summary.p50_ms_median as f64) - label_w
        );
        for run in &r.runs {
            for (v, colour) in [
                (run.stats.p50_ms, "#2471a3"),
                (run.stats.p99_ms, "#d68910"),
                (run.stats.max_ms, "#c0392b"),
            ] {
                let _ = write!(
                    out,
                    r##"<line class="run" x1="{:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="{colour}" stroke-width="2"/>"##,
                    x(v as f64),
                    y + 22.0,
                    x(v as f64),
                    y + 36.0
                );
            }
        }
        out.push_str("</g>");
    }
    out.push_str("</svg>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lab::result::{PartitionResult, RunStats, Summary, Verification};

    fn partition(p: i32, affected: bool, unavailable_ms: i64) -> PartitionResult {
        PartitionResult {
            topic: "t<&>".into(),
            partition: p,
            leader_before: if affected { 1 } else { 2 },
            leader_after: 2,
            affected,
            last_ack_before_ms: 9_900,
            first_ack_after_ms: 10_000 + unavailable_ms,
            gap_ms: 100 + unavailable_ms,
            unavailable_ms,
            acked: 10,
            lost: 0,
            duplicated: 0,
        }
    }

    fn run() -> RunResult {
        let partitions = vec![
            partition(0, true, 6_000),
            partition(1, true, 6_200),
            partition(2, false, 50),
        ];
        RunResult {
            repetition: 1,
            start_ms: 5_000,
            fault_ms: 10_000,
            end_ms: 20_000,
            fault_broker: 1,
            fault_broker_was_controller: false,
            controller_before: 2,
            phases: vec![PhasePoint {
                phase: "broker_lost_seen".into(),
                ts_ms: 15_900,
                source: "zkafka-events".into(),
                event: "BrokerChange".into(),
                seq: 3,
                controller: 2,
                partitions: 2,
                brokers: vec![1],
            }],
            stats: RunStats::of(&partitions),
            partitions,
            verification: Verification::default(),
        }
    }

    #[test]
    fn the_timeline_has_a_bar_per_partition_and_the_marks() {
        let svg = run_svg(&run(), "a <title>");
        assert_eq!(svg.matches(r#"class="gap""#).count(), 3);
        assert_eq!(svg.matches(r#"class="mark""#).count(), 3);
        assert_eq!(svg.matches(r#"class="phase""#).count(), 1);
        assert_eq!(svg.matches(r#"class="hist""#).count(), BINS);
        assert!(svg.contains("a &lt;title&gt;") && svg.contains("t&lt;&amp;&gt;-0"));
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
    }

    #[test]
    fn the_comparison_has_a_row_per_result() {
        let runs = vec![run()];
        let r = LabResult {
            schema_version: 1,
            label: "x".into(),
            target: "zkafka".into(),
            settings: crate::lab::result::Settings {
                brokers: 3,
                topics: 1,
                partitions_per_topic: 3,
                replication_factor: 3,
                min_insync_replicas: 2,
                rate_per_partition: 10.0,
                acks: -1,
                session_timeout_ms: 6000,
                fault: "kill".into(),
                command: "zkafka lab failover".into(),
            },
            summary: Summary::of(&runs),
            runs,
        };
        let svg = compare_svg(&[("a".into(), r.clone()), ("b".into(), r)]);
        assert_eq!(svg.matches(r#"class="result""#).count(), 2);
        // Three ticks (p50, p99, max) per run.
        assert_eq!(svg.matches(r#"class="run""#).count(), 6);
    }
}
