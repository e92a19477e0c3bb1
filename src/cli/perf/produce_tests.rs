use super::*;
use crate::cli::perf::PerfCommand;
use crate::cli::{Cli, Command};
use clap::Parser;
use kafka_protocol::records::RecordBatchDecoder;

fn parse(extra: &[&str]) -> Result<ProduceArgs, clap::Error> {
    let mut args = vec![
        "zkafka",
        "perf",
        "produce",
        "--bootstrap-server",
        "localhost:9092",
        "--topic",
        "t",
        "--num-records",
        "1000",
        "--record-size",
        "100",
        "--throughput",
        "-1",
    ];
    args.extend_from_slice(extra);
    match Cli::try_parse_from(args)?.command {
        Command::Perf(p) => match p.command {
            PerfCommand::Produce(a) => Ok(a),
            other => panic!("{other:?}"),
        },
        other => panic!("{other:?}"),
    }
}

#[test]
fn parses_kafka_style_flags() {
    let a = parse(&[
        "--acks",
        "all",
        "--partition",
        "2",
        "--batch-size",
        "65536",
        "--linger-ms",
        "5",
        "--inflight",
        "10",
        "--json",
    ])
    .unwrap();
    assert_eq!(
        (a.num_records, a.record_size, a.throughput),
        (1000, 100, -1.0)
    );
    assert_eq!(
        (a.acks, a.partition, a.batch_size, a.linger_ms, a.inflight),
        (-1, Some(2), 65536, 5, 10)
    );
    assert!(a.json);
    let d = parse(&[]).unwrap();
    assert_eq!(
        (d.acks, d.batch_size, d.linger_ms, d.inflight, d.partition),
        (1, 16384, 0, 5, None)
    );
}

#[test]
fn rejects_bad_acks_and_zero_inflight() {
    assert!(parse(&["--acks", "2"]).is_err());
    assert!(parse(&["--inflight", "0"]).is_err());
    assert_eq!(parse_acks("0"), Ok(0));
    assert_eq!(parse_acks("-1"), Ok(-1));
}

#[test]
fn framed_produce_request_carries_one_decodable_batch() {
    use crate::client::batch::build_batch;
    use crate::client::produce_frame::encode_produce;
    use bytes::{Buf, Bytes};
    use kafka_protocol::messages::{ProduceRequest, RequestHeader};
    use kafka_protocol::protocol::Decodable;

    let value = payload(100);
    assert!(value.iter().all(|b| b.is_ascii_uppercase()));
    let batch = build_batch(&value, 7, 0).unwrap();
    let parts = encode_produce(9, 5, "perf", -1, 1500, "t", &[(3, batch)]).unwrap();
    let mut frame = Bytes::from(parts.concat());
    assert_eq!(frame.get_i32() as usize, frame.len());
    let header = RequestHeader::decode(&mut frame, 2).unwrap();
    assert_eq!((header.request_api_key, header.correlation_id), (0, 5));
    let req = ProduceRequest::decode(&mut frame, 9).unwrap();
    assert_eq!((req.acks, req.timeout_ms), (-1, 1500));
    let p = &req.topic_data[0].partition_data[0];
    assert_eq!(p.index, 3);
    let mut records = p.records.clone().unwrap();
    let sets = RecordBatchDecoder::decode_all(&mut records).unwrap();
    assert_eq!(sets.len(), 1);
    assert_eq!(sets[0].records.len(), 7);
    assert_eq!(sets[0].records[6].value.as_ref(), Some(&value));
}
