//! The socket server over real TCP, with a trivial handler that echoes request bodies and can be
//! told (by the body) to answer later, answer nothing, or close.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::RequestHeader;
use kafka_protocol::protocol::{Encodable, StrBytes};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::timeout;
use zkafka::network::{
    bind, serve, NetworkConfig, QuotaLimits, Reply, RequestContext, RequestHandler,
};

/// Echoes the body; `sleep:<ms>` answers after that long, `none` answers nothing, `close` closes.
struct Echo;

impl RequestHandler for Echo {
    async fn handle(&self, ctx: RequestContext) -> Reply {
        let body = ctx.body;
        let text = std::str::from_utf8(&body).unwrap_or("").to_owned();
        if let Some(ms) = text.strip_prefix("sleep:") {
            let ms: u64 = ms.parse().unwrap();
            return Reply::Later(Box::pin(async move {
                tokio::time::sleep(Duration::from_millis(ms)).await;
                Some(body.into())
            }));
        }
        match text.as_str() {
            "none" => Reply::Now(None),
            "close" => Reply::Close("asked to".into()),
            "listener" => Reply::Now(Some(Bytes::copy_from_slice(ctx.listener.as_bytes()).into())),
            _ => Reply::Now(Some(body.into())),
        }
    }
}

struct Server {
    addr: std::net::SocketAddr,
    stop: watch::Sender<bool>,
    task: JoinHandle<std::io::Result<()>>,
}

async fn start(max_request_bytes: usize) -> Server {
    let srv = serve_on_loopback(
        Arc::new(Echo),
        NetworkConfig {
            max_request_bytes,
            max_in_flight: 16,
            ..NetworkConfig::default()
        },
    )
    .await;
    assert_ne!(
        srv.addr.port(),
        0,
        "port 0 must be replaced by the OS-picked port"
    );
    srv
}

/// `handler` served on one PLAINTEXT listener on a free loopback port.
async fn serve_on_loopback<H: RequestHandler>(handler: Arc<H>, cfg: NetworkConfig) -> Server {
    let bound = bind(&[("PLAINTEXT".into(), "127.0.0.1".into(), 0)])
        .await
        .unwrap();
    let addr = bound[0].local_addr;
    let (stop, rx) = watch::channel(false);
    let task = tokio::spawn(serve(bound, handler, cfg, rx));
    Server { addr, stop, task }
}

/// A request frame: length, header (at `header_version`), body.
fn request(
    api_key: i16,
    api_version: i16,
    header_version: i16,
    correlation_id: i32,
    body: &[u8],
) -> Vec<u8> {
    let header = RequestHeader::default()
        .with_request_api_key(api_key)
        .with_request_api_version(api_version)
        .with_correlation_id(correlation_id)
        .with_client_id(Some(StrBytes::from_static_str("test")));
    let mut buf = BytesMut::new();
    header.encode(&mut buf, header_version).unwrap();
    buf.extend_from_slice(body);
    let mut frame = (buf.len() as i32).to_be_bytes().to_vec();
    frame.extend_from_slice(&buf);
    frame
}

/// Metadata v4: request header v1, response header v0.
fn metadata(correlation_id: i32, body: &[u8]) -> Vec<u8> {
    request(3, 4, 1, correlation_id, body)
}

/// Reads one response frame: (correlation id, rest after the correlation id).
async fn response(s: &mut TcpStream) -> (i32, Vec<u8>) {
    let len = timeout(Duration::from_secs(10), s.read_i32())
        .await
        .expect("response in time")
        .unwrap();
    let mut buf = vec![0; len as usize];
    s.read_exact(&mut buf).await.unwrap();
    (
        i32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]),
        buf[4..].to_vec(),
    )
}

/// True when the server closed the connection (EOF or reset) within a few seconds.
async fn closed(s: &mut TcpStream) -> bool {
    let mut b = [0u8; 64];
    loop {
        match timeout(Duration::from_secs(5), s.read(&mut b)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => continue,
            Err(_) => return false,
        }
    }
}

#[tokio::test]
async fn echoes_with_the_right_response_headers() {
    let srv = start(1 << 20).await;
    let mut s = TcpStream::connect(srv.addr).await.unwrap();
    // Metadata v4 → response header v0: correlation id then the body.
    s.write_all(&metadata(7, b"hello")).await.unwrap();
    assert_eq!(response(&mut s).await, (7, b"hello".to_vec()));
    // Metadata v9 (header v2 in, v1 out) → an empty tagged-field byte before the body.
    s.write_all(&request(3, 9, 2, 8, b"flex")).await.unwrap();
    assert_eq!(response(&mut s).await, (8, b"\0flex".to_vec()));
    // ApiVersions v3 has a v2 request header but its response header is always v0.
    s.write_all(&request(18, 3, 2, 9, b"av")).await.unwrap();
    assert_eq!(response(&mut s).await, (9, b"av".to_vec()));
    // An ApiVersions version the broker has never heard of still gets an answer.
    s.write_all(&request(18, 77, 2, 10, b"future"))
        .await
        .unwrap();
    assert_eq!(response(&mut s).await, (10, b"future".to_vec()));
    s.write_all(&metadata(11, b"listener")).await.unwrap();
    assert_eq!(response(&mut s).await, (11, b"PLAINTEXT".to_vec()));
}

#[tokio::test]
async fn pipelined_requests_in_one_write_and_acks_zero() {
    let srv = start(1 << 20).await;
    let mut s = TcpStream::connect(srv.addr).await.unwrap();
    let mut all = Vec::new();
    all.extend(metadata(1, b"a"));
    all.extend(metadata(2, b"none")); // acks=0 style: no response at all
    all.extend(metadata(3, b"c"));
    s.write_all(&all).await.unwrap();
    assert_eq!(response(&mut s).await, (1, b"a".to_vec()));
    assert_eq!(response(&mut s).await, (3, b"c".to_vec()));
}

#[tokio::test]
async fn responses_keep_request_order_when_a_later_one_finishes_first() {
    let srv = start(1 << 20).await;
    let mut s = TcpStream::connect(srv.addr).await.unwrap();
    let started = Instant::now();
    let mut all = metadata(1, b"sleep:300");
    all.extend(metadata(2, b"sleep:10"));
    all.extend(metadata(3, b"now"));
    s.write_all(&all).await.unwrap();
    assert_eq!(response(&mut s).await, (1, b"sleep:300".to_vec()));
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(response(&mut s).await, (2, b"sleep:10".to_vec()));
    assert_eq!(response(&mut s).await, (3, b"now".to_vec()));
    // The later requests were not serialised behind the first one's wait.
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn oversized_frame_closes_only_that_connection() {
    let srv = start(1000).await;
    let mut good = TcpStream::connect(srv.addr).await.unwrap();
    let mut bad = TcpStream::connect(srv.addr).await.unwrap();
    bad.write_all(&5000i32.to_be_bytes()).await.unwrap();
    assert!(
        closed(&mut bad).await,
        "oversized frame must close the connection"
    );
    good.write_all(&metadata(1, b"still here")).await.unwrap();
    assert_eq!(response(&mut good).await, (1, b"still here".to_vec()));
    // Exactly the limit is fine.
    let body = vec![b'x'; 1000 - 14]; // 14 = header v1 with client id "test"
    let frame = metadata(2, &body);
    assert_eq!(frame.len(), 1004);
    good.write_all(&frame).await.unwrap();
    assert_eq!(response(&mut good).await.0, 2);
    let mut neg = TcpStream::connect(srv.addr).await.unwrap();
    neg.write_all(&(-1i32).to_be_bytes()).await.unwrap();
    assert!(
        closed(&mut neg).await,
        "negative size must close the connection"
    );
}

#[tokio::test]
async fn garbage_headers_close_the_connection() {
    let srv = start(1 << 20).await;
    for frame in [
        request(12345, 0, 1, 1, b""),                     // unknown api key
        vec![0, 0, 0, 3, 0, 3, 0],                        // shorter than any header
        vec![0, 0, 0, 10, 0, 3, 0, 4, 0, 0, 0, 1, 0, 50], // client id longer than the frame
    ] {
        let mut s = TcpStream::connect(srv.addr).await.unwrap();
        s.write_all(&frame).await.unwrap();
        assert!(
            closed(&mut s).await,
            "frame {frame:?} must close the connection"
        );
    }
    let mut s = TcpStream::connect(srv.addr).await.unwrap();
    s.write_all(&metadata(1, b"ok")).await.unwrap();
    assert_eq!(response(&mut s).await, (1, b"ok".to_vec()));
}

#[tokio::test]
async fn close_reply_writes_earlier_responses_first() {
    let srv = start(1 << 20).await;
    let mut s = TcpStream::connect(srv.addr).await.unwrap();
    let mut all = metadata(1, b"sleep:100");
    all.extend(metadata(2, b"close"));
    all.extend(metadata(3, b"never answered"));
    s.write_all(&all).await.unwrap();
    assert_eq!(response(&mut s).await, (1, b"sleep:100".to_vec()));
    assert!(closed(&mut s).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousand_concurrent_connections() {
    let srv = start(1 << 20).await;
    let mut clients = Vec::new();
    for i in 0..1000i32 {
        let addr = srv.addr;
        clients.push(tokio::spawn(async move {
            let mut s = TcpStream::connect(addr).await.unwrap();
            for round in 0..3 {
                let corr = i * 10 + round;
                s.write_all(&request(18, 3, 2, corr, format!("c{i}r{round}").as_bytes()))
                    .await
                    .unwrap();
                let (got, body) = response(&mut s).await;
                assert_eq!(got, corr);
                assert_eq!(body, format!("c{i}r{round}").into_bytes());
            }
            s
        }));
    }
    let mut open = Vec::new();
    for c in clients {
        open.push(c.await.unwrap());
    }
    assert_eq!(open.len(), 1000);
}

#[tokio::test]
async fn shutdown_waits_for_in_flight_requests() {
    let srv = start(1 << 20).await;
    let mut s = TcpStream::connect(srv.addr).await.unwrap();
    s.write_all(&metadata(1, b"sleep:400")).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let asked = Instant::now();
    srv.stop.send(true).unwrap();
    // The in-flight response still arrives, then the connection ends.
    assert_eq!(response(&mut s).await, (1, b"sleep:400".to_vec()));
    assert!(closed(&mut s).await);
    // serve() returns only after that, and promptly.
    timeout(Duration::from_secs(5), srv.task)
        .await
        .expect("serve returns")
        .unwrap()
        .unwrap();
    assert!(
        asked.elapsed() >= Duration::from_millis(250),
        "{:?}",
        asked.elapsed()
    );
    // No longer accepting.
    assert!(TcpStream::connect(srv.addr).await.is_err());
}

#[tokio::test]
async fn idle_connections_do_not_block_shutdown() {
    let srv = start(1 << 20).await;
    let mut s = TcpStream::connect(srv.addr).await.unwrap();
    s.write_all(&metadata(1, b"x")).await.unwrap();
    assert_eq!(response(&mut s).await.0, 1);
    srv.stop.send(true).unwrap();
    timeout(Duration::from_secs(5), srv.task)
        .await
        .expect("serve returns")
        .unwrap()
        .unwrap();
    assert!(closed(&mut s).await);
}

#[tokio::test]
async fn dropping_serve_bounds_the_drain() {
    // A caller bounds shutdown by dropping (or aborting) the serve future after a deadline: every
    // connection is closed then, even one still owed a response.
    let srv = start(1 << 20).await;
    let mut s = TcpStream::connect(srv.addr).await.unwrap();
    s.write_all(&metadata(1, b"sleep:10000")).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    srv.stop.send(true).unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        !srv.task.is_finished(),
        "serve must wait for the in-flight request"
    );
    srv.task.abort();
    assert!(closed(&mut s).await);
}

#[tokio::test]
async fn empty_host_binds_every_interface() {
    let bound = bind(&[("PLAINTEXT".into(), String::new(), 0)])
        .await
        .unwrap();
    let port = bound[0].local_addr.port();
    assert!(
        bound[0].local_addr.ip().is_unspecified(),
        "{}",
        bound[0].local_addr
    );
    let (stop, rx) = watch::channel(false);
    let cfg = NetworkConfig {
        max_request_bytes: 1 << 20,
        max_in_flight: 4,
        ..NetworkConfig::default()
    };
    let task = tokio::spawn(serve(bound, Arc::new(Echo), cfg, rx));
    let mut s = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    s.write_all(&metadata(5, b"v4")).await.unwrap();
    assert_eq!(response(&mut s).await, (5, b"v4".to_vec()));
    stop.send(true).unwrap();
    timeout(Duration::from_secs(5), task)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
}

/// Counts requests and never answers them.
struct Stuck(std::sync::atomic::AtomicUsize);

impl RequestHandler for Stuck {
    async fn handle(&self, _ctx: RequestContext) -> Reply {
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Reply::Later(Box::pin(std::future::pending()))
    }
}

#[tokio::test]
async fn pipelining_is_bounded_by_max_in_flight() {
    let handler = Arc::new(Stuck(Default::default()));
    let cfg = NetworkConfig {
        max_request_bytes: 1 << 20,
        max_in_flight: 2,
        ..NetworkConfig::default()
    };
    let Server {
        addr, stop: _stop, ..
    } = serve_on_loopback(handler.clone(), cfg).await;
    let mut s = TcpStream::connect(addr).await.unwrap();
    let mut all = Vec::new();
    for i in 0..50 {
        all.extend(metadata(i, b"x"));
    }
    s.write_all(&all).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    // One being awaited by the writer, two queued, one waiting for room: the rest stay unread.
    let calls = handler.0.load(std::sync::atomic::Ordering::SeqCst);
    assert!((3..=4).contains(&calls), "handler called {calls} times");
}

async fn start_with(cfg: NetworkConfig) -> Server {
    serve_on_loopback(Arc::new(Echo), cfg).await
}

#[tokio::test]
async fn idle_connections_are_closed_after_connections_max_idle() {
    let srv = start_with(NetworkConfig {
        connections_max_idle: Some(Duration::from_millis(300)),
        ..NetworkConfig::default()
    })
    .await;
    let mut idle = TcpStream::connect(srv.addr).await.unwrap();
    let mut busy = TcpStream::connect(srv.addr).await.unwrap();
    let t0 = std::time::Instant::now();
    // A connection that keeps asking stays open past the idle time.
    for i in 0..6 {
        busy.write_all(&metadata(i, b"x")).await.unwrap();
        assert_eq!(response(&mut busy).await.0, i);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(closed(&mut idle).await, "the idle connection was closed");
    assert!(t0.elapsed() >= Duration::from_millis(300));
    busy.write_all(&metadata(9, b"x")).await.unwrap();
    assert_eq!(response(&mut busy).await.0, 9);
    srv.stop.send(true).unwrap();
    srv.task.await.unwrap().unwrap();
}

#[tokio::test]
async fn connections_over_the_per_ip_limit_are_closed_and_slots_come_back() {
    let srv = start_with(NetworkConfig {
        quotas: QuotaLimits {
            max_connections_per_ip: 2,
            ..QuotaLimits::default()
        },
        ..NetworkConfig::default()
    })
    .await;
    let mut a = TcpStream::connect(srv.addr).await.unwrap();
    let mut b = TcpStream::connect(srv.addr).await.unwrap();
    let mut c = TcpStream::connect(srv.addr).await.unwrap();
    assert!(closed(&mut c).await, "the third connection is refused");
    for (i, s) in [&mut a, &mut b].into_iter().enumerate() {
        s.write_all(&metadata(i as i32, b"x")).await.unwrap();
        assert_eq!(response(s).await.0, i as i32);
    }
    drop(a);
    // The closed connection's slot is given back once its task ends.
    let mut again = None;
    for _ in 0..50 {
        let mut s = TcpStream::connect(srv.addr).await.unwrap();
        s.write_all(&metadata(7, b"x")).await.unwrap();
        let mut len = [0u8; 4];
        if timeout(Duration::from_millis(500), s.read_exact(&mut len))
            .await
            .is_ok_and(|r| r.is_ok())
        {
            again = Some(s);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        again.is_some(),
        "a slot freed by a closed connection is reused"
    );
    srv.stop.send(true).unwrap();
    srv.task.await.unwrap().unwrap();
}

#[tokio::test]
async fn a_peer_that_leaves_cancels_its_pending_requests_at_once() {
    let srv = start(1 << 20).await;
    let mut s = TcpStream::connect(srv.addr).await.unwrap();
    s.write_all(&metadata(1, b"sleep:20000")).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    drop(s);
    tokio::time::sleep(Duration::from_millis(100)).await;
    // Nothing is owed to anyone any more, so shutdown does not wait for the 20 s reply.
    let asked = Instant::now();
    srv.stop.send(true).unwrap();
    timeout(Duration::from_secs(2), srv.task)
        .await
        .expect("serve returns without waiting for the abandoned request")
        .unwrap()
        .unwrap();
    assert!(asked.elapsed() < Duration::from_secs(2));
}

/// Echo, but only ApiVersions (key 18) is handled before `enabled` turns true.
struct Gated {
    enabled: watch::Receiver<bool>,
}

impl RequestHandler for Gated {
    async fn handle(&self, ctx: RequestContext) -> Reply {
        Echo.handle(ctx).await
    }

    async fn admitted(&self, api_key: kafka_protocol::messages::ApiKey) {
        if api_key != kafka_protocol::messages::ApiKey::ApiVersions {
            let _ = self.enabled.clone().wait_for(|e| *e).await;
        }
    }
}

#[tokio::test]
async fn requests_wait_until_processing_is_enabled_and_leaving_or_shutdown_ends_the_wait() {
    let (enable, enabled) = watch::channel(false);
    let Server { addr, stop, task } =
        serve_on_loopback(Arc::new(Gated { enabled }), NetworkConfig::default()).await;
    let mut held = TcpStream::connect(addr).await.unwrap();
    held.write_all(&metadata(1, b"early")).await.unwrap();
    // ApiVersions v0 (header v1) is answered at once on another connection.
    let mut control = TcpStream::connect(addr).await.unwrap();
    control.write_all(&request(18, 0, 1, 9, b"")).await.unwrap();
    assert_eq!(response(&mut control).await.0, 9);
    let mut buf = [0u8; 4];
    assert!(
        timeout(Duration::from_millis(300), held.read(&mut buf))
            .await
            .is_err(),
        "answered before request processing was enabled"
    );
    // A client that gives up while held is let go: its connection closes without an answer.
    let mut quitter = TcpStream::connect(addr).await.unwrap();
    quitter.write_all(&metadata(2, b"never")).await.unwrap();
    quitter.shutdown().await.unwrap();
    assert!(closed(&mut quitter).await);
    enable.send(true).unwrap();
    assert_eq!(response(&mut held).await, (1, b"early".to_vec()));

    // Shutdown ends a wait for enabling too.
    enable.send(false).unwrap();
    let mut late = TcpStream::connect(addr).await.unwrap();
    late.write_all(&metadata(3, b"late")).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    stop.send(true).unwrap();
    timeout(Duration::from_secs(2), task)
        .await
        .expect("serve returns")
        .unwrap()
        .unwrap();
    assert!(closed(&mut late).await);
}

#[tokio::test]
async fn requests_sent_just_before_the_peer_closes_are_still_handled() {
    // acks=0 produce requests followed by a close: nothing is answered, but each is handled.
    let handler = Arc::new(Stuck(Default::default()));
    let Server {
        addr, stop: _stop, ..
    } = serve_on_loopback(handler.clone(), NetworkConfig::default()).await;
    let mut s = TcpStream::connect(addr).await.unwrap();
    let mut all = Vec::new();
    for i in 0..20 {
        all.extend(metadata(i, b"x"));
    }
    s.write_all(&all).await.unwrap();
    drop(s);
    let deadline = Instant::now() + Duration::from_secs(5);
    while handler.0.load(std::sync::atomic::Ordering::SeqCst) < 20 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(handler.0.load(std::sync::atomic::Ordering::SeqCst), 20);
}
