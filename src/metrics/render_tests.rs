//! The page as a Prometheus text parser reads it: names, types, labels, values.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::*;
use crate::controller::ControllerEvent;
use crate::metrics::controller::Phase;
use crate::metrics::endpoint::respond;

struct Fake {
    active: bool,
}

impl BrokerState for Fake {
    fn partition_counts(&self) -> PartitionCounts {
        PartitionCounts {
            partitions: 7,
            leaders: 3,
            under_replicated: 2,
            under_min_isr: 1,
        }
    }
    fn is_active_controller(&self) -> bool {
        self.active
    }
    fn zk_session_state(&self) -> &'static str {
        "CONNECTED"
    }
}

fn fresh() -> &'static Metrics {
    Box::leak(Box::new(Metrics::new()))
}

/// The value of the sample line `series` (name and labels exactly as rendered).
fn value(page: &str, series: &str) -> Option<f64> {
    page.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

#[test]
fn gauges_carry_the_jmx_exporter_names_and_the_controller_gauges_only_on_the_controller() {
    let m = fresh();
    m.controller.set_counts(crate::metrics::ControllerCounts {
        topics: 4,
        partitions: 30,
        offline: 10,
        preferred_imbalance: 6,
    });
    let page = render_with(m, Arc::new(Fake { active: true }));
    let v = |s: &str| value(&page, s);
    assert_eq!(
        v("kafka_controller_kafkacontroller_activecontrollercount"),
        Some(1.0)
    );
    assert_eq!(
        v("kafka_controller_kafkacontroller_offlinepartitionscount"),
        Some(10.0)
    );
    assert_eq!(
        v("kafka_controller_kafkacontroller_globalpartitioncount"),
        Some(30.0)
    );
    assert_eq!(
        v("kafka_controller_kafkacontroller_globaltopiccount"),
        Some(4.0)
    );
    assert_eq!(
        v("kafka_controller_kafkacontroller_preferredreplicaimbalancecount"),
        Some(6.0)
    );
    assert_eq!(v("kafka_server_replicamanager_partitioncount"), Some(7.0));
    assert_eq!(v("kafka_server_replicamanager_leadercount"), Some(3.0));
    assert_eq!(
        v("kafka_server_replicamanager_underreplicatedpartitions"),
        Some(2.0)
    );
    assert_eq!(
        v("kafka_server_replicamanager_underminisrpartitioncount"),
        Some(1.0)
    );
    assert_eq!(
        v(r#"kafka_server_sessionexpirelistener_sessionstate{state="CONNECTED"}"#),
        Some(1.0)
    );
    assert_eq!(
        v(r#"kafka_server_sessionexpirelistener_sessionstate{state="CLOSED"}"#),
        Some(0.0)
    );
    assert!(page.contains("# TYPE kafka_controller_kafkacontroller_offlinepartitionscount gauge\n"));
    assert!(page.ends_with("# EOF\n"), "{page}");

    let page = render_with(m, Arc::new(Fake { active: false }));
    assert_eq!(
        value(
            &page,
            "kafka_controller_kafkacontroller_activecontrollercount"
        ),
        Some(0.0)
    );
    assert_eq!(
        value(
            &page,
            "kafka_controller_kafkacontroller_offlinepartitionscount"
        ),
        Some(0.0)
    );
}

#[test]
fn meters_are_counters_with_total_and_requests_are_labelled_by_type_and_version() {
    let m = fresh();
    let received = Instant::now() - Duration::from_millis(30);
    m.requests.record(0, 9, received.elapsed());
    m.requests.record(0, 9, Duration::from_millis(3));
    m.requests.record(3, 12, Duration::from_millis(1));
    m.requests.record(999, 0, Duration::from_millis(1)); // unknown key: not counted
    m.bytes_in.fetch_add(100, Ordering::Relaxed);
    m.messages_in.fetch_add(5, Ordering::Relaxed);
    let page = render_with(m, Arc::new(Fake { active: false }));
    let v = |s: &str| value(&page, s);
    assert!(page.contains("# TYPE kafka_network_requestmetrics_requests counter\n"));
    assert_eq!(
        v(r#"kafka_network_requestmetrics_requests_total{request="Produce",version="9"}"#),
        Some(2.0)
    );
    assert_eq!(
        v(r#"kafka_network_requestmetrics_requests_total{request="Metadata",version="12"}"#),
        Some(1.0)
    );
    assert!(!page.contains(r#"request="Fetch""#), "{page}");
    assert_eq!(
        v(r#"kafka_network_requestmetrics_totaltimems_count{request="Produce"}"#),
        Some(2.0)
    );
    assert_eq!(
        v(r#"kafka_network_requestmetrics_totaltimems_bucket{le="5.0",request="Produce"}"#).or(v(
            r#"kafka_network_requestmetrics_totaltimems_bucket{request="Produce",le="5.0"}"#
        )),
        Some(1.0)
    );
    assert_eq!(
        v("kafka_server_brokertopicmetrics_bytesin_total"),
        Some(100.0)
    );
    assert_eq!(
        v("kafka_server_brokertopicmetrics_messagesin_total"),
        Some(5.0)
    );
    assert_eq!(
        v("kafka_server_brokertopicmetrics_bytesout_total"),
        Some(0.0)
    );
    assert_eq!(
        v("kafka_controller_controllerstats_uncleanleaderelections_total"),
        Some(0.0)
    );
    assert_eq!(
        v("kafka_server_zookeeperclientmetrics_zookeeperrequestlatencyms_count"),
        Some(0.0)
    );
}

#[test]
fn controller_phases_are_histograms_per_event_and_phase() {
    let m = fresh();
    m.controller.event_started(&ControllerEvent::BrokersChanged);
    m.controller.phase(Phase::BrokerLostSeen);
    m.controller.phase(Phase::ZkWritten);
    m.controller.event_done();
    let page = render_with(m, Arc::new(Fake { active: true }));
    assert!(page.contains("# TYPE zkafka_controller_phase_ms histogram\n"));
    let count = |phase: &str| {
        value(
            &page,
            &format!(r#"zkafka_controller_phase_ms_count{{event="BrokerChange",phase="{phase}"}}"#),
        )
    };
    assert_eq!(count("broker_lost_seen"), Some(1.0));
    assert_eq!(count("zk_written"), Some(1.0));
    assert_eq!(count("event_done"), Some(1.0));
    // Phases no event reached are left out.
    assert_eq!(count("leader_and_isr_acked"), None);
    assert_eq!(
        value(
            &page,
            "kafka_controller_controllerstats_leaderelectionrateandtimems_count"
        ),
        Some(1.0)
    );
}

#[test]
fn the_endpoint_serves_get_metrics_only() {
    let state: Arc<dyn BrokerState> = Arc::new(Fake { active: false });
    let ok = String::from_utf8(respond(
        "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n",
        state.clone(),
    ))
    .unwrap();
    assert!(ok.starts_with("HTTP/1.1 200 OK\r\n"), "{ok}");
    assert!(ok.contains("Content-Type: application/openmetrics-text"));
    let body = ok.split_once("\r\n\r\n").unwrap().1;
    assert!(ok.contains(&format!("Content-Length: {}\r\n", body.len())));
    assert!(body.contains("kafka_server_replicamanager_partitioncount 7"));
    let head =
        String::from_utf8(respond("HEAD /metrics?x=1 HTTP/1.1\r\n\r\n", state.clone())).unwrap();
    assert!(
        head.starts_with("HTTP/1.1 200 OK\r\n") && head.ends_with("\r\n\r\n"),
        "{head}"
    );
    let missing = String::from_utf8(respond("GET / HTTP/1.1\r\n\r\n", state.clone())).unwrap();
    assert!(missing.starts_with("HTTP/1.1 404 "));
    let post = String::from_utf8(respond("POST /metrics HTTP/1.1\r\n\r\n", state)).unwrap();
    assert!(post.starts_with("HTTP/1.1 405 "));
}
