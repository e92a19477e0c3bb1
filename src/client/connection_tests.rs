//! Connection against a tiny in-test broker that answers ApiVersions, to check pipelining,
//! correlation-id matching, timeouts and failure of requests in flight when the peer closes.

use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::{
    ApiVersionsRequest, ApiVersionsResponse, MetadataRequest, RequestHeader, ResponseHeader,
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::Connection;
use crate::client::ClientError;
use crate::metadata::str_bytes;

async fn read_request(sock: &mut TcpStream) -> Option<(RequestHeader, Bytes)> {
    let len = sock.read_u32().await.ok()? as usize;
    let mut buf = BytesMut::zeroed(len);
    sock.read_exact(&mut buf).await.ok()?;
    let mut buf = buf.freeze();
    // ApiVersions v3 uses request header v2.
    let header = RequestHeader::decode(&mut buf, 2).ok()?;
    Some((header, buf))
}

/// An ApiVersions v3 response whose throttle_time_ms echoes the number the request carried in
/// client_software_version, so each caller can tell its own response from the others.
fn answer(header: &RequestHeader, mut body: Bytes) -> Bytes {
    let req = ApiVersionsRequest::decode(&mut body, 3).unwrap();
    let tag: i32 = req.client_software_version.parse().unwrap_or(-1);
    let resp = ApiVersionsResponse::default()
        .with_throttle_time_ms(tag)
        .with_api_keys(vec![
            ApiVersion::default()
                .with_api_key(18)
                .with_min_version(0)
                .with_max_version(3),
            ApiVersion::default()
                .with_api_key(3)
                .with_min_version(1)
                .with_max_version(7),
        ]);
    let mut frame = BytesMut::new();
    ResponseHeader::default()
        .with_correlation_id(header.correlation_id)
        .encode(&mut frame, 0)
        .unwrap();
    resp.encode(&mut frame, 3).unwrap();
    let mut out = BytesMut::new();
    out.put_u32(frame.len() as u32);
    out.extend_from_slice(&frame);
    out.freeze()
}

fn tagged(tag: usize) -> ApiVersionsRequest {
    ApiVersionsRequest::default()
        .with_client_software_name(StrBytes::from_static_str("test"))
        .with_client_software_version(str_bytes(tag.to_string()))
}

#[tokio::test]
async fn pipelined_requests_are_matched_by_correlation_id() {
    const N: usize = 16;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let server = tokio::spawn(async move {
        let (mut sock, _) = listener.accept().await.unwrap();
        // Read every request before answering any: this only completes if the client really
        // keeps N requests in flight on the one connection.
        let mut reqs = Vec::new();
        for _ in 0..N {
            reqs.push(read_request(&mut sock).await.unwrap());
        }
        let ids: std::collections::HashSet<i32> =
            reqs.iter().map(|(h, _)| h.correlation_id).collect();
        assert_eq!(ids.len(), N, "correlation ids must be distinct");
        // Answer in reverse order to prove matching is by id, not by position.
        for (h, body) in reqs.into_iter().rev() {
            sock.write_all(&answer(&h, body)).await.unwrap();
        }
    });
    let conn = std::sync::Arc::new(
        Connection::connect(&addr, "t", Duration::from_secs(5))
            .await
            .unwrap(),
    );
    let calls = (0..N).map(|i| {
        let conn = conn.clone();
        tokio::spawn(async move { (i, conn.send(tagged(i), 3).await) })
    });
    let results = tokio::time::timeout(Duration::from_secs(10), futures_join(calls.collect()))
        .await
        .expect("pipelined requests did not complete");
    for (i, resp) in results {
        let resp = resp.unwrap();
        assert_eq!(
            resp.throttle_time_ms, i as i32,
            "request {i} got another's response"
        );
    }
    server.await.unwrap();
}

async fn futures_join<T: Send + 'static>(handles: Vec<tokio::task::JoinHandle<T>>) -> Vec<T> {
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.unwrap());
    }
    out
}

#[tokio::test]
async fn api_versions_negotiates_per_api() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        let (mut sock, _) = listener.accept().await.unwrap();
        while let Some((h, body)) = read_request(&mut sock).await {
            sock.write_all(&answer(&h, body)).await.unwrap();
        }
    });
    let conn = Connection::connect(&addr, "t", Duration::from_secs(5))
        .await
        .unwrap();
    // Before negotiation we trust our own cap.
    assert_eq!(conn.version_for::<MetadataRequest>(12).unwrap(), 12);
    let resp = conn.api_versions().await.unwrap();
    assert_eq!(resp.api_keys.len(), 2);
    assert_eq!(conn.version_for::<MetadataRequest>(12).unwrap(), 7);
    assert_eq!(conn.version_for::<MetadataRequest>(4).unwrap(), 4);
    let err = conn
        .version_for::<kafka_protocol::messages::ProduceRequest>(9)
        .unwrap_err();
    assert!(
        matches!(err, ClientError::UnsupportedApi { api: 0, .. }),
        "{err}"
    );
}

#[tokio::test]
async fn peer_close_fails_requests_in_flight_and_later() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        let (mut sock, _) = listener.accept().await.unwrap();
        let _ = read_request(&mut sock).await;
        drop(sock); // never answers
    });
    let conn = Connection::connect(&addr, "t", Duration::from_secs(5))
        .await
        .unwrap();
    let err = tokio::time::timeout(Duration::from_secs(5), conn.send(tagged(1), 3))
        .await
        .expect("in-flight request must fail when the peer closes")
        .unwrap_err();
    assert!(matches!(err, ClientError::Closed { .. }), "{err}");
    assert!(conn.is_closed());
    let err = conn.send(tagged(2), 3).await.unwrap_err();
    assert!(matches!(err, ClientError::Closed { .. }), "{err}");
}

#[tokio::test]
async fn unanswered_request_times_out() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let _server = tokio::spawn(async move {
        let (mut sock, _) = listener.accept().await.unwrap();
        let _ = read_request(&mut sock).await;
        tokio::time::sleep(Duration::from_secs(30)).await;
    });
    let conn = Connection::connect(&addr, "t", Duration::from_secs(5))
        .await
        .unwrap()
        .with_request_timeout(Duration::from_millis(200));
    let err = conn.send(tagged(1), 3).await.unwrap_err();
    assert!(
        matches!(err, ClientError::RequestTimeout { api: 18, .. }),
        "{err}"
    );
}

#[tokio::test]
async fn connect_refused_is_io_error() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    drop(listener);
    let err = Connection::connect(&addr, "t", Duration::from_secs(5))
        .await
        .unwrap_err();
    assert!(matches!(err, ClientError::Io { .. }), "{err}");
}
