//! Kafka's controller phases from its logs, for `--start kafka` (the logs
//! [`super::kafka_process`] configures: `[yyyy-MM-dd HH:mm:ss,SSS]` in UTC). Kafka 3.9's lines
//! are not a stable interface; the lab reads these, from KafkaController and
//! ControllerChannelManager, and maps them to the event stream's phase names where they mean the
//! same (docs/controller-events.md):
//!
//! | Kafka line (logger) | phase |
//! | --- | --- |
//! | `successfully elected as the controller` (controller) | `controller_elected` |
//! | `deleted brokers: <ids>` with ids (controller) | `broker_lost_seen` |
//! | `Shutting down broker <id>` (controller) | `controlled_shutdown_seen` |
//! | first `Sending LeaderAndIsr request to broker` after it (state change) | `leader_and_isr_sent` |
//! | the answers of those brokers (state change, TRACE) | `leader_and_isr_acked` |
//! | first `Sending UpdateMetadata request to brokers` after it (state change) | `update_metadata_sent` |
//! | the answers of those brokers (state change, TRACE) | `update_metadata_acked` |
//!
//! Each request thread of Kafka's controller sends one request at a time to its broker, so the
//! first response of a kind from a broker after a send is the answer to it.

use std::path::Path;

use super::result::PhasePoint;

/// One log line: its time and the rest.
struct Line<'a> {
    ts_ms: i64,
    text: &'a str,
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `[2026-12-06 04:01:02,345] ...` → Unix ms (UTC) and the rest of the line.
fn parse_line(line: &str) -> Option<Line<'_>> {
    let stamp = line.get(1..24)?;
    if !line.starts_with('[') || line.get(24..25) != Some("]") {
        return None;
    }
    let n = |r: std::ops::Range<usize>| stamp.get(r)?.parse::<i64>().ok();
    let days = days_from_civil(n(0..4)?, n(5..7)?, n(8..10)?);
    let ms = ((n(11..13)? * 60 + n(14..16)?) * 60 + n(17..19)?) * 1000 + n(20..23)?;
    Some(Line {
        ts_ms: days * 86_400_000 + ms,
        text: line.get(25..)?,
    })
}

/// The broker ids in `s`: every run of digits.
fn ids(s: &str) -> Vec<i32> {
    s.split(|c: char| !c.is_ascii_digit())
        .filter_map(|t| t.parse().ok())
        .collect()
}

/// The controller id of a `[Controller id=N...]` line.
fn controller_of(text: &str) -> i32 {
    text.split_once("[Controller id=")
        .and_then(|(_, rest)| ids(rest).first().copied())
        .unwrap_or(-1)
}

fn mk(phase: &str, ts_ms: i64, controller: i32, brokers: Vec<i32>) -> PhasePoint {
    PhasePoint {
        phase: phase.into(),
        ts_ms,
        source: "kafka-controller-log".into(),
        event: String::new(),
        seq: 0,
        controller,
        partitions: 0,
        brokers,
    }
}

/// The phases of the controller and state-change logs' `text`s between `from_ms` and `to_ms`.
pub fn phases(
    controller_log: &str,
    state_change_log: &str,
    from_ms: i64,
    to_ms: i64,
) -> Vec<PhasePoint> {
    let window = |l: &Line| l.ts_ms >= from_ms && l.ts_ms <= to_ms;
    let mut out = Vec::new();
    for l in controller_log.lines().filter_map(parse_line).filter(window) {
        let c = controller_of(l.text);
        if l.text.contains("successfully elected as the controller") {
            out.push(mk("controller_elected", l.ts_ms, c, Vec::new()));
        } else if let Some((_, rest)) = l.text.split_once("deleted brokers: ") {
            let lost = ids(rest.split_once(", bounced").map_or(rest, |(d, _)| d));
            if !lost.is_empty() {
                out.push(mk("broker_lost_seen", l.ts_ms, c, lost));
            }
        } else if let Some((_, rest)) = l.text.split_once("Shutting down broker ") {
            out.push(mk("controlled_shutdown_seen", l.ts_ms, c, ids(rest)));
        }
    }
    let lines: Vec<Line> = state_change_log
        .lines()
        .filter_map(parse_line)
        .filter(window)
        .collect();
    out.extend(requests(
        &lines,
        "Sending LeaderAndIsr request to broker ",
        "LEADER_AND_ISR",
        "leader_and_isr",
    ));
    out.extend(requests(
        &lines,
        "Sending UpdateMetadata request to brokers ",
        "UPDATE_METADATA",
        "update_metadata",
    ));
    out
}

/// `<prefix>_sent` at the first send (to any broker) after the window opened, `<prefix>_acked`
/// when the last broker of that round answered (none if one never did). A round is the sends
/// made before the first answer of the kind.
fn requests(lines: &[Line], send: &str, api: &str, prefix: &str) -> Vec<PhasePoint> {
    let answer = format!("for request {api} with correlation id");
    let to_brokers = |l: &Line| {
        l.text.split_once(send).map(|(_, rest)| {
            // "to broker 3 with ..." or "to brokers HashSet(1, 3) for ..."
            let to = rest
                .split_once(" with ")
                .or_else(|| rest.split_once(" for "))
                .map_or(rest, |(b, _)| b);
            ids(to)
        })
    };
    // An UpdateMetadata to no broker (Kafka sends one when the only change is a lost broker) is
    // no round.
    let Some(first) = lines
        .iter()
        .position(|l| to_brokers(l).is_some_and(|b| !b.is_empty()))
    else {
        return Vec::new();
    };
    let controller = controller_of(lines[first].text);
    let (mut round, mut waiting): (Vec<i32>, Vec<i32>) = (Vec::new(), Vec::new());
    let mut last_answer = None;
    for l in &lines[first..] {
        if let Some(to) = to_brokers(l) {
            if last_answer.is_some() {
                continue;
            }
            for id in to {
                if !round.contains(&id) {
                    round.push(id);
                    waiting.push(id);
                }
            }
        } else if l.text.contains(&answer) {
            let from = l
                .text
                .rsplit_once("(id: ")
                .and_then(|(_, r)| ids(r).first().copied());
            if let Some(pos) = from.and_then(|id| waiting.iter().position(|w| *w == id)) {
                waiting.swap_remove(pos);
                last_answer = Some(l.ts_ms);
                if waiting.is_empty() {
                    break;
                }
            }
        }
    }
    round.sort_unstable();
    let mut out = vec![mk(
        &format!("{prefix}_sent"),
        lines[first].ts_ms,
        controller,
        round.clone(),
    )];
    if let (true, Some(ts)) = (waiting.is_empty(), last_answer) {
        out.push(mk(&format!("{prefix}_acked"), ts, controller, round));
    }
    out
}

/// [`phases`] of the logs of every broker (`(id, controller log, state-change log)`); a log
/// that cannot be read contributes nothing (that broker never was controller).
pub fn read(
    logs: &[(i32, std::path::PathBuf, std::path::PathBuf)],
    from_ms: i64,
    to_ms: i64,
) -> Vec<PhasePoint> {
    let text = |p: &Path| std::fs::read_to_string(p).unwrap_or_default();
    let mut out: Vec<PhasePoint> = logs
        .iter()
        .flat_map(|(_, c, s)| phases(&text(c), &text(s), from_ms, to_ms))
        .collect();
    out.sort_by_key(|p| p.ts_ms);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Lines of a real Kafka 3.9.2 run (`zkafka lab failover --start kafka`, broker 2 killed),
    /// shortened where marked.
    const CONTROLLER: &str = "\
[2026-12-06 04:10:06,594] INFO [Controller id=1] 1 successfully elected as the controller. Epoch incremented to 1 and epoch zk version is now 1 (kafka.controller.KafkaController)
[2026-12-06 04:10:37,867] INFO [Controller id=1] Newly added brokers: , deleted brokers: 2, bounced brokers: , all live brokers: 1,3 (kafka.controller.KafkaController)
[2026-12-06 04:10:37,893] INFO [Controller id=1] Broker failure callback for 2 (kafka.controller.KafkaController)
";
    const STATE_CHANGE: &str = "\
[2026-12-06 04:10:37,936] INFO [Controller id=1 epoch=1] Sending UpdateMetadata request to brokers HashSet() for 0 partitions (state.change.logger)
[2026-12-06 04:10:38,323] INFO [Controller id=1 epoch=1] Sending LeaderAndIsr request to broker 1 with 5 become-leader and 5 become-follower partitions (state.change.logger)
[2026-12-06 04:10:38,325] INFO [Controller id=1 epoch=1] Sending LeaderAndIsr request to broker 3 with 5 become-leader and 5 become-follower partitions (state.change.logger)
[2026-12-06 04:10:38,325] INFO [Controller id=1 epoch=1] Sending UpdateMetadata request to brokers HashSet(1, 3) for 10 partitions (state.change.logger)
[2026-12-06 04:10:38,487] TRACE [Controller id=1 epoch=1] Received response LeaderAndIsrResponseData(errorCode=0) for request LEADER_AND_ISR with correlation id 3 sent to broker 127.0.0.1:46023 (id: 3 rack: null) (state.change.logger)
[2026-12-06 04:10:38,546] TRACE [Controller id=1 epoch=1] Received response UpdateMetadataResponseData(errorCode=0) for request UPDATE_METADATA with correlation id 4 sent to broker 127.0.0.1:46023 (id: 3 rack: null) (state.change.logger)
[2026-12-06 04:10:38,564] TRACE [Controller id=1 epoch=1] Received response LeaderAndIsrResponseData(errorCode=0) for request LEADER_AND_ISR with correlation id 4 sent to broker 127.0.0.1:35857 (id: 1 rack: null) (state.change.logger)
[2026-12-06 04:10:38,568] TRACE [Controller id=1 epoch=1] Received response UpdateMetadataResponseData(errorCode=0) for request UPDATE_METADATA with correlation id 5 sent to broker 127.0.0.1:35857 (id: 1 rack: null) (state.change.logger)
[2026-12-06 04:10:39,084] INFO [Controller id=1 epoch=1] Sending LeaderAndIsr request to broker 1 with 15 become-leader and 15 become-follower partitions (state.change.logger)
";

    #[test]
    fn timestamps_are_utc_milliseconds() {
        let l = parse_line("[2026-12-06 04:10:37,867] INFO x").expect("parses");
        assert_eq!(l.ts_ms, 1_796_530_237_867);
        assert_eq!(l.text, " INFO x");
        assert!(parse_line("[2026-12-06 04:10] INFO").is_none());
        assert!(parse_line("Exception in thread main").is_none());
    }

    #[test]
    fn a_lost_broker_reads_as_the_event_streams_phases() {
        let from = parse_line("[2026-12-06 04:10:30,000]").map_or(0, |l| l.ts_ms);
        let got: Vec<(String, i64, i32, Vec<i32>)> =
            phases(CONTROLLER, STATE_CHANGE, from, i64::MAX)
                .into_iter()
                .map(|p| (p.phase, p.ts_ms - from, p.controller, p.brokers))
                .collect();
        let want = [
            ("broker_lost_seen", 7_867, vec![2]),
            ("leader_and_isr_sent", 8_323, vec![1, 3]),
            ("leader_and_isr_acked", 8_564, vec![1, 3]),
            ("update_metadata_sent", 8_325, vec![1, 3]),
            ("update_metadata_acked", 8_568, vec![1, 3]),
        ];
        let want: Vec<(String, i64, i32, Vec<i32>)> = want
            .into_iter()
            .map(|(p, t, b)| (p.to_string(), t, 1, b))
            .collect();
        assert_eq!(got, want);
        // Before the window: only the election.
        let early = phases(CONTROLLER, "", 0, from);
        assert_eq!(early.len(), 1);
        assert_eq!(early[0].phase, "controller_elected");
    }

    #[test]
    fn a_round_without_every_answer_is_not_acknowledged() {
        let unanswered: String = STATE_CHANGE
            .lines()
            .filter(|l| !l.contains("correlation id 4 sent to broker 127.0.0.1:35857"))
            .map(|l| format!("{l}\n"))
            .collect();
        let got: Vec<String> = phases("", &unanswered, 0, i64::MAX)
            .into_iter()
            .map(|p| p.phase)
            .collect();
        assert_eq!(
            got,
            [
                "leader_and_isr_sent",
                "update_metadata_sent",
                "update_metadata_acked"
            ]
        );
    }
}
