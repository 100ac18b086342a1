//! The listener against slow and malformed clients, over raw TCP: header, body and idle
//! timeouts, connection caps, and framework-level rejections as problem documents.

use crate::common::{Db, TestServer};
use serde_json::Value;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const HALF_HEADER: &[u8] = b"GET /v1/health HTTP/1.1\r\nHost: x\r\nX-A:";
const HEALTH: &[u8] = b"GET /v1/health HTTP/1.1\r\nHost: x\r\n\r\n";

/// One HTTP response as read off the wire.
#[derive(Debug)]
struct RawResponse {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl RawResponse {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Asserts a problem document with `status`, and returns it.
    fn assert_problem(&self, status: u16) -> Value {
        assert_eq!(self.status, status, "{self:?}");
        assert_eq!(
            self.header("content-type"),
            Some("application/problem+json"),
            "{self:?}"
        );
        let doc: Value = serde_json::from_slice(&self.body).expect("problem JSON body");
        assert_eq!(doc["status"], status, "{doc}");
        assert!(
            doc["title"].is_string() && doc["detail"].is_string(),
            "{doc}"
        );
        assert!(doc["request_id"].is_string(), "{doc}");
        doc
    }
}

fn addr(srv: &TestServer) -> String {
    srv.base.trim_start_matches("http://").to_owned()
}

async fn connect(srv: &TestServer) -> TcpStream {
    TcpStream::connect(addr(srv)).await.expect("connect")
}

/// Parses one complete response at the start of `buf`, if it is all there.
fn parse_response(buf: &[u8]) -> Option<(RawResponse, usize)> {
    let head_end = buf.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let head = std::str::from_utf8(&buf[..head_end]).expect("ASCII head");
    let mut lines = head.split("\r\n");
    let status = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let len: usize = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .map_or(0, |(_, v)| v.parse().expect("content-length"));
    let body = buf.get(head_end..head_end + len)?.to_vec();
    Some((
        RawResponse {
            status,
            headers,
            body,
        },
        head_end + len,
    ))
}

/// Reads one response off a kept-alive connection.
async fn read_response(stream: &mut TcpStream) -> RawResponse {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            if let Some((res, _)) = parse_response(&buf) {
                return res;
            }
            let n = stream.read(&mut chunk).await.expect("read");
            assert!(n > 0, "closed before a full response: {buf:?}");
            buf.extend_from_slice(&chunk[..n]);
        }
    })
    .await
    .expect("a response within 5 s")
}

/// Reads until the server closes the connection (EOF or reset), within `limit`; what was read.
async fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> Vec<u8> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    tokio::time::timeout(limit, async {
        loop {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("connection still open after {limit:?}"));
    buf
}

/// Sends `request` (while reading, so a server that answers early cannot stall the writer) and
/// returns the response the server sent before closing.
async fn exchange_until_closed(srv: &TestServer, request: Vec<u8>) -> RawResponse {
    let stream = connect(srv).await;
    let (mut reader, mut writer) = stream.into_split();
    let write = tokio::spawn(async move {
        let _ = writer.write_all(&request).await;
        writer
    });
    let mut buf = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), async {
        let mut chunk = [0u8; 8192];
        loop {
            match reader.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
    })
    .await
    .expect("the server answers and closes within 5 s");
    drop(write.await);
    parse_response(&buf)
        .unwrap_or_else(|| panic!("no complete response: {:?}", String::from_utf8_lossy(&buf)))
        .0
}

async fn start(env: &[(&str, &str)]) -> TestServer {
    TestServer::start_with(Db::Sqlite, env).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_normal_request_answers_within_a_second_while_600_slow_clients_hold_connections() {
    let srv = start(&[("TALON_MAX_CONNECTIONS_PER_IP", "1000")]).await;
    let mut slow = Vec::new();
    for _ in 0..600 {
        let mut s = connect(&srv).await;
        s.write_all(HALF_HEADER).await.expect("write");
        slow.push(s);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;

    let started = Instant::now();
    let res = srv.http.get(srv.url("/v1/health")).send().await.unwrap();
    let elapsed = started.elapsed();

    assert_eq!(res.status(), 200);
    assert!(elapsed < Duration::from_secs(1), "{elapsed:?}");
    // The slow clients were admitted and are still held, not dropped to make room.
    let mut probe = [0u8; 1];
    for s in [&slow[0], &slow[299], &slow[599]] {
        let err = s
            .try_read(&mut probe)
            .expect_err("still open, nothing sent");
        assert_eq!(err.kind(), std::io::ErrorKind::WouldBlock);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_half_header_is_closed_after_the_header_timeout() {
    let srv = start(&[("TALON_HEADER_TIMEOUT_SECS", "1")]).await;
    let mut s = connect(&srv).await;
    s.write_all(HALF_HEADER).await.unwrap();
    let started = Instant::now();

    let answer = read_until_closed(&mut s, Duration::from_secs(3)).await;

    assert!(started.elapsed() >= Duration::from_millis(900));
    let (res, _) = parse_response(&answer).expect("a 408 answer");
    res.assert_problem(408);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_half_header_on_a_kept_alive_connection_is_closed_after_the_header_timeout() {
    let srv = start(&[
        ("TALON_HEADER_TIMEOUT_SECS", "1"),
        ("TALON_IDLE_TIMEOUT_SECS", "30"),
    ])
    .await;
    let mut s = connect(&srv).await;
    s.write_all(HEALTH).await.unwrap();
    assert_eq!(read_response(&mut s).await.status, 200);

    s.write_all(HALF_HEADER).await.unwrap();
    let started = Instant::now();
    read_until_closed(&mut s, Duration::from_secs(3)).await;

    assert!(started.elapsed() >= Duration::from_millis(900));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_kept_alive_connection_is_closed_after_the_idle_timeout() {
    let srv = start(&[("TALON_IDLE_TIMEOUT_SECS", "1")]).await;
    let mut s = connect(&srv).await;
    s.write_all(HEALTH).await.unwrap();
    assert_eq!(read_response(&mut s).await.status, 200);
    s.write_all(HEALTH).await.unwrap();
    assert_eq!(read_response(&mut s).await.status, 200, "kept alive");
    let started = Instant::now();

    let rest = read_until_closed(&mut s, Duration::from_secs(3)).await;

    assert!(rest.is_empty());
    assert!(started.elapsed() >= Duration::from_millis(900));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_above_the_per_ip_cap_are_refused() {
    let srv = start(&[("TALON_MAX_CONNECTIONS_PER_IP", "4")]).await;
    let mut held = Vec::new();
    for _ in 0..4 {
        let mut s = connect(&srv).await;
        s.write_all(HALF_HEADER).await.unwrap();
        held.push(s);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;

    let mut fifth = connect(&srv).await;
    let answer = read_until_closed(&mut fifth, Duration::from_secs(2)).await;
    let (res, _) = parse_response(&answer).expect("a 503 answer");
    res.assert_problem(503);

    drop(held);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut again = connect(&srv).await;
    again.write_all(HEALTH).await.unwrap();
    assert_eq!(read_response(&mut again).await.status, 200, "places freed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_overlong_uri_answers_414_problem_json() {
    let srv = start(&[]).await;
    let request = format!(
        "GET /v1/health?q={} HTTP/1.1\r\nHost: x\r\n\r\n",
        "a".repeat(100_000)
    );
    let res = exchange_until_closed(&srv, request.into_bytes()).await;
    res.assert_problem(414);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_overlong_uri_on_a_kept_alive_connection_answers_414_problem_json() {
    let srv = start(&[]).await;
    let mut s = connect(&srv).await;
    s.write_all(HEALTH).await.unwrap();
    assert_eq!(read_response(&mut s).await.status, 200);

    let request = format!(
        "GET /v1/health?q={} HTTP/1.1\r\nHost: x\r\n\r\n",
        "a".repeat(10_000)
    );
    s.write_all(request.as_bytes()).await.unwrap();
    read_response(&mut s).await.assert_problem(414);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_header_block_answers_431_problem_json() {
    let srv = start(&[]).await;
    let filler = format!("X-Filler: {}\r\n", "a".repeat(1000)).repeat(40);
    let request = format!("GET /v1/health HTTP/1.1\r\nHost: x\r\n{filler}\r\n");
    let res = exchange_until_closed(&srv, request.into_bytes()).await;
    res.assert_problem(431);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_negative_content_length_answers_400_problem_json() {
    let srv = start(&[]).await;
    let request =
        b"POST /v1/auth/signup HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: -1\r\n\r\n{}";
    let res = exchange_until_closed(&srv, request.to_vec()).await;
    res.assert_problem(400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_stops_arriving_is_cut_off_after_the_body_timeout() {
    let srv = start(&[("TALON_BODY_TIMEOUT_SECS", "1")]).await;
    let mut s = connect(&srv).await;
    s.write_all(
        b"POST /v1/auth/signup HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"email\":",
    )
    .await
    .unwrap();
    let started = Instant::now();

    let answer = read_until_closed(&mut s, Duration::from_secs(4)).await;

    assert!(started.elapsed() >= Duration::from_millis(900));
    let (res, _) = parse_response(&answer).expect("a 408 answer");
    res.assert_problem(408);
}
