//! The HTTP/1.1 listener: Talon's own accept loop over hyper, so that slow or hostile clients
//! cannot hold the server.
//!
//! - Every connection runs in its own task; the accept loop never waits on one.
//! - Connections are counted overall and per client IP; above a cap a new connection gets a
//!   503 problem and is closed at once, never queued.
//! - The first request head of each connection is read here, before hyper sees it, within the
//!   header timeout and within [`MAX_URI`] and [`MAX_HEAD`], and its `Content-Length` is
//!   checked. A bad head is answered with a complete `application/problem+json` response
//!   (414, 431, 400, 408) and the connection is closed. A good head is replayed to hyper.
//! - Later requests on a kept-alive connection are not pre-read (their boundaries are only
//!   known to hyper): their heads are bounded by the same limits through hyper's own settings
//!   (`max_buf_size` = [`MAX_HEAD`], 100 headers), and an over-long URI is answered 414 problem
//!   here; what hyper itself rejects on such a later request it answers with an empty body.
//! - Between requests the connection may stay silent for the idle timeout; once a new head has
//!   started it must complete within the header timeout. Each request body must have arrived
//!   within the body timeout of its head, else the request is answered 408 and the connection
//!   closed.
//! - Handlers still see `ConnectInfo<SocketAddr>`, and on shutdown in-flight requests finish
//!   before [`serve`] returns.

use crate::problem;
use axum::body::{Body, Bytes, HttpBody};
use axum::extract::ConnectInfo;
use axum::http::{header, HeaderValue, Request, Response, StatusCode, Uri};
use axum::response::IntoResponse;
use axum::Router;
use http_body::{Frame, SizeHint};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::time::{Instant, Sleep};
use tower::ServiceExt;

/// Longest request target accepted, in bytes; a longer one is answered 414.
pub const MAX_URI: usize = 8 * 1024;
/// Largest request head (request line and header fields) accepted, in bytes; a larger one is
/// answered 431.
pub const MAX_HEAD: usize = 32 * 1024;
/// Most header fields in one request (hyper's default); more are answered 431.
const MAX_HEADERS: usize = 100;
/// How long a rejected client has to take its answer before the socket is dropped.
const LINGER: Duration = Duration::from_secs(2);
/// Most bytes read and discarded after a rejection, so that closing does not reset the
/// connection before the client has read the answer.
const MAX_DRAIN: usize = 256 * 1024;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The listener's limits (`ServerArgs` documents each setting).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// A request head must be complete this long after its first byte (the first request of a
    /// connection: after the connection opened).
    pub header_timeout: Duration,
    /// A request body must have fully arrived this long after its head.
    pub body_timeout: Duration,
    /// A kept-alive connection with no new request for this long is closed.
    pub idle_timeout: Duration,
    /// Open connections in all.
    pub max_connections: usize,
    /// Open connections from one client IP.
    pub max_connections_per_ip: usize,
}

/// Serves `router` on `listener` until `shutdown` resolves; then stops accepting, lets
/// in-flight requests finish (idle connections are closed) and returns.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let registry = Arc::new(Registry::new(limits));
    let (stop_tx, stop_rx) = watch::channel(());
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and the like: give connections time to close.
                    tracing::warn!(error = %e, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Some(slot) = registry.admit(peer.ip()) else {
            refuse(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let router = router.clone();
        let stop = stop_rx.clone();
        tokio::spawn(async move {
            connection(stream, peer, router, limits, stop).await;
            drop(slot);
        });
    }
    drop(stop_rx);
    let _ = stop_tx.send(());
    stop_tx.closed().await;
}

/// Raises this process's soft limit of open files to its hard limit, so that the connection
/// caps, not the descriptor limit, decide when connections are refused. Returns the limit now
/// in force, if known.
pub fn raise_open_files_limit() -> Option<u64> {
    use rustix::process::{getrlimit, setrlimit, Resource};
    let limit = getrlimit(Resource::Nofile);
    // `None` is unlimited; the soft limit never exceeds the hard one.
    if limit.current != limit.maximum {
        let raised = rustix::process::Rlimit {
            current: limit.maximum,
            maximum: limit.maximum,
        };
        if setrlimit(Resource::Nofile, raised).is_ok() {
            return limit.maximum;
        }
    }
    limit.current
}

/// Open connections, overall and per client IP.
struct Registry {
    limits: Limits,
    counts: Mutex<Counts>,
}

#[derive(Default)]
struct Counts {
    total: usize,
    per_ip: HashMap<IpAddr, usize>,
}

/// One admitted connection; dropping it frees its place.
struct Slot {
    registry: Arc<Registry>,
    ip: IpAddr,
}

impl Registry {
    fn new(limits: Limits) -> Registry {
        Registry {
            limits,
            counts: Mutex::new(Counts::default()),
        }
    }

    /// A place for one more connection from `ip`, unless a cap is reached.
    fn admit(self: &Arc<Self>, ip: IpAddr) -> Option<Slot> {
        let ip = ip.to_canonical();
        let mut counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        let mine = counts.per_ip.get(&ip).copied().unwrap_or(0);
        if counts.total >= self.limits.max_connections || mine >= self.limits.max_connections_per_ip
        {
            return None;
        }
        counts.total += 1;
        counts.per_ip.insert(ip, mine + 1);
        Some(Slot {
            registry: self.clone(),
            ip,
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut counts = self
            .registry
            .counts
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        counts.total = counts.total.saturating_sub(1);
        if let Some(n) = counts.per_ip.get_mut(&self.ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                counts.per_ip.remove(&self.ip);
            }
        }
    }
}

/// Answers a connection above a cap with a 503 problem, without waiting, and closes it.
fn refuse(stream: TcpStream) {
    tracing::debug!("connection refused: too many open connections");
    let answer = raw_problem(
        StatusCode::SERVICE_UNAVAILABLE,
        "Too many open connections; try again later",
    );
    let _ = stream.try_write(answer.as_bytes());
}

/// One connection: the first head, then hyper until the client leaves or the server stops.
async fn connection(
    mut stream: TcpStream,
    peer: SocketAddr,
    router: Router,
    limits: Limits,
    mut stop: watch::Receiver<()>,
) {
    let head = tokio::select! {
        head = read_first_head(&mut stream, limits.header_timeout) => head,
        _ = stop.changed() => return,
    };
    let replay = match head {
        FirstHead::Ready(bytes) => bytes,
        FirstHead::Closed => return,
        FirstHead::Rejected(status, detail) => {
            tracing::debug!(status = status.as_u16(), "request head rejected");
            reject(stream, status, detail).await;
            return;
        }
    };
    let in_flight = Arc::new(InFlight::default());
    let io = TokioIo::new(Guarded::new(stream, replay, in_flight.clone(), limits));
    let service = hyper::service::service_fn(move |req| {
        handle(
            req,
            peer,
            router.clone(),
            Busy::new(in_flight.clone()),
            limits.body_timeout,
        )
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .max_buf_size(MAX_HEAD)
        .max_headers(MAX_HEADERS)
        // Head and idle deadlines are kept by `Guarded`, which knows which one applies.
        .header_read_timeout(None)
        .serve_connection(io, service)
        .with_upgrades();
    let mut conn = std::pin::pin!(conn);
    tokio::select! {
        result = conn.as_mut() => {
            if let Err(e) = result {
                tracing::debug!(error = %e, "connection ended with an error");
            }
            return;
        }
        _ = stop.changed() => {}
    }
    conn.as_mut().graceful_shutdown();
    let _ = conn.await;
}

/// The first request head of a connection, as read by [`read_first_head`].
#[derive(Debug, PartialEq)]
enum FirstHead {
    /// Complete and within the limits: the bytes read so far (the head, maybe some body).
    Ready(Bytes),
    /// The client closed, or sent nothing before the header timeout.
    Closed,
    /// To be answered with this status and detail, then closed.
    Rejected(StatusCode, &'static str),
}

/// Reads until the first request head is complete, rejected, or the header timeout passes.
async fn read_first_head(stream: &mut TcpStream, timeout: Duration) -> FirstHead {
    let deadline = Instant::now() + timeout;
    let mut buf = Vec::with_capacity(4096);
    let mut chunk = [0u8; 8192];
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut chunk)).await {
            Err(_) if buf.is_empty() => return FirstHead::Closed,
            Err(_) => {
                return FirstHead::Rejected(
                    StatusCode::REQUEST_TIMEOUT,
                    "The request head did not arrive in time",
                )
            }
            Ok(Ok(0) | Err(_)) => return FirstHead::Closed,
            Ok(Ok(n)) => buf.extend_from_slice(chunk.get(..n).unwrap_or_default()),
        }
        match check_head(&buf) {
            Check::Partial => {}
            Check::Complete => return FirstHead::Ready(buf.into()),
            Check::Reject(status, detail) => return FirstHead::Rejected(status, detail),
        }
    }
}

/// What the bytes received so far say about a request head.
#[derive(Debug, PartialEq)]
enum Check {
    Partial,
    Complete,
    Reject(StatusCode, &'static str),
}

const URI_TOO_LONG: Check = Check::Reject(
    StatusCode::URI_TOO_LONG,
    "The request target is longer than 8 KiB",
);
const HEAD_TOO_LARGE: Check = Check::Reject(
    StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
    "The request header fields are larger than 32 KiB or more than 100",
);

/// Checks a request head that may still be incomplete against [`MAX_URI`], [`MAX_HEAD`],
/// [`MAX_HEADERS`] and the `Content-Length` rules.
fn check_head(buf: &[u8]) -> Check {
    // Like hyper (via httparse), tolerate empty lines before the request line.
    let start = buf
        .iter()
        .position(|&b| b != b'\r' && b != b'\n')
        .unwrap_or(buf.len());
    let line = buf.get(start..).unwrap_or_default();
    match line.iter().position(|&b| b == b'\n') {
        // Room for a method and ` HTTP/1.1\r` around the longest target.
        None if line.len() > MAX_URI + 32 => return URI_TOO_LONG,
        None => return Check::Partial,
        Some(end) => {
            let target = line
                .get(..end)
                .unwrap_or_default()
                .split(|&b| b == b' ')
                .nth(1)
                .unwrap_or_default();
            if target.len() > MAX_URI {
                return URI_TOO_LONG;
            }
        }
    }
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    match req.parse(buf) {
        Ok(httparse::Status::Complete(len)) if len > MAX_HEAD => HEAD_TOO_LARGE,
        Ok(httparse::Status::Complete(_)) if !content_length_ok(req.headers) => Check::Reject(
            StatusCode::BAD_REQUEST,
            "Content-Length must be one non-negative decimal number",
        ),
        Ok(httparse::Status::Complete(_)) => Check::Complete,
        Ok(httparse::Status::Partial) if buf.len() > MAX_HEAD => HEAD_TOO_LARGE,
        Ok(httparse::Status::Partial) => Check::Partial,
        Err(httparse::Error::TooManyHeaders) => HEAD_TOO_LARGE,
        Err(_) => Check::Reject(StatusCode::BAD_REQUEST, "The request head is malformed"),
    }
}

/// Every `Content-Length` value (and every element of a comma-separated one) is a decimal
/// number that fits in 64 bits, and they all agree.
fn content_length_ok(headers: &[httparse::Header<'_>]) -> bool {
    let mut seen = None;
    let values = headers
        .iter()
        .filter(|h| h.name.eq_ignore_ascii_case("content-length"))
        .flat_map(|h| h.value.split(|&b| b == b','));
    for value in values {
        let value = value.trim_ascii();
        if value.is_empty() || !value.iter().all(u8::is_ascii_digit) {
            return false;
        }
        let Some(n) = std::str::from_utf8(value)
            .ok()
            .and_then(|v| v.parse::<u64>().ok())
        else {
            return false;
        };
        if seen.is_some_and(|s| s != n) {
            return false;
        }
        seen = Some(n);
    }
    true
}

/// Writes a problem answer, closes the sending side, and reads what the client still sends
/// (bounded in time and bytes) so that it can read the answer before the socket goes.
async fn reject(mut stream: TcpStream, status: StatusCode, detail: &str) {
    let answer = raw_problem(status, detail);
    let _ = tokio::time::timeout(LINGER, async {
        stream.write_all(answer.as_bytes()).await?;
        stream.shutdown().await?;
        let mut sink = [0u8; 8192];
        let mut drained = 0;
        while drained < MAX_DRAIN {
            match stream.read(&mut sink).await? {
                0 => break,
                n => drained += n,
            }
        }
        Ok::<_, io::Error>(())
    })
    .await;
}

/// A complete HTTP/1.1 response carrying a problem document, for answers written without hyper.
fn raw_problem(status: StatusCode, detail: &str) -> String {
    let id = uuid::Uuid::new_v4().to_string();
    let body = problem::document(status, detail, &id);
    format!(
        "HTTP/1.1 {} {}\r\ncontent-type: application/problem+json\r\ncontent-length: {}\r\n\
         x-request-id: {id}\r\nx-content-type-options: nosniff\r\ncache-control: no-store\r\n\
         connection: close\r\n\r\n{body}",
        status.as_u16(),
        status.canonical_reason().unwrap_or("Error"),
        body.len(),
    )
}

/// A problem answer sent through hyper, after which the connection is closed.
fn closing_problem(status: StatusCode, detail: &str) -> Response<Body> {
    let id = uuid::Uuid::new_v4().to_string();
    let mut p = problem::Problem::new(status, detail);
    p.extra.insert("request_id".into(), id.clone().into());
    let mut res = p.into_response();
    if let Ok(v) = HeaderValue::from_str(&id) {
        res.headers_mut().insert("x-request-id", v);
    }
    res.headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    res
}

/// One request: the later-request URI check, `ConnectInfo`, the body deadline, the router.
async fn handle(
    req: Request<Incoming>,
    peer: SocketAddr,
    router: Router,
    busy: Busy,
    body_timeout: Duration,
) -> Result<Response<Tracked>, Infallible> {
    let (mut parts, body) = req.into_parts();
    if target_len(&parts.uri) > MAX_URI {
        let res = closing_problem(
            StatusCode::URI_TOO_LONG,
            "The request target is longer than 8 KiB",
        );
        return Ok(res.map(|b| Tracked::new(b, busy)));
    }
    parts.extensions.insert(ConnectInfo(peer));
    let timed_out = Arc::new(AtomicBool::new(false));
    let body = TimedBody::new(body, body_timeout, timed_out.clone());
    let res = match router.oneshot(Request::from_parts(parts, body)).await {
        Ok(res) => res,
        Err(never) => match never {},
    };
    let res = if timed_out.load(Ordering::Acquire) {
        closing_problem(
            StatusCode::REQUEST_TIMEOUT,
            "The request body did not arrive in time",
        )
    } else {
        res
    };
    Ok(res.map(|b| Tracked::new(b, busy)))
}

/// Length of the request target as sent (origin form, or absolute form with an authority).
fn target_len(uri: &Uri) -> usize {
    uri.path_and_query().map_or(0, |p| p.as_str().len())
        + uri.authority().map_or(0, |a| a.as_str().len())
}

/// The requests of one connection being handled, and the reader to wake when the last one is
/// done (so that [`Guarded`] starts the idle timeout even if no byte arrives).
#[derive(Default)]
struct InFlight {
    count: AtomicUsize,
    reader: Mutex<Option<Waker>>,
}

impl InFlight {
    fn busy(&self) -> bool {
        self.count.load(Ordering::Acquire) > 0
    }

    /// Remembers the task reading the connection while a request is in flight.
    fn register_reader(&self, waker: &Waker) {
        let mut reader = self.reader.lock().unwrap_or_else(PoisonError::into_inner);
        if !reader.as_ref().is_some_and(|w| w.will_wake(waker)) {
            *reader = Some(waker.clone());
        }
    }
}

/// A request of the connection is being handled: from the call of the service until its
/// response body has been sent (or dropped).
struct Busy(Arc<InFlight>);

impl Busy {
    fn new(in_flight: Arc<InFlight>) -> Busy {
        in_flight.count.fetch_add(1, Ordering::AcqRel);
        Busy(in_flight)
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        if self.0.count.fetch_sub(1, Ordering::AcqRel) == 1 {
            let reader = self
                .0
                .reader
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take();
            if let Some(reader) = reader {
                reader.wake();
            }
        }
    }
}

/// A response body that keeps its request counted as in flight until it is done.
struct Tracked {
    inner: Body,
    _busy: Busy,
}

impl Tracked {
    fn new(inner: Body, busy: Busy) -> Tracked {
        Tracked { inner, _busy: busy }
    }
}

impl HttpBody for Tracked {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// A request body that fails once it has not fully arrived by its deadline, and records that
/// it did so the request can be answered 408.
struct TimedBody {
    inner: Incoming,
    deadline: Instant,
    timer: Option<Pin<Box<Sleep>>>,
    timed_out: Arc<AtomicBool>,
}

impl TimedBody {
    fn new(inner: Incoming, timeout: Duration, timed_out: Arc<AtomicBool>) -> TimedBody {
        TimedBody {
            inner,
            deadline: Instant::now() + timeout,
            timer: None,
            timed_out,
        }
    }
}

impl HttpBody for TimedBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        if let Poll::Ready(frame) = Pin::new(&mut this.inner).poll_frame(cx) {
            return Poll::Ready(frame.map(|f| f.map_err(BoxError::from)));
        }
        let deadline = this.deadline;
        let timer = this
            .timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        if timer.as_mut().poll(cx).is_ready() {
            this.timed_out.store(true, Ordering::Release);
            return Poll::Ready(Some(Err("the request body did not arrive in time".into())));
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Where a connection is between requests, for [`Guarded`]'s deadlines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// A request is in flight: its body has its own deadline, the handler may take its time.
    Busy,
    /// No request in flight and nothing received since: the idle timeout runs.
    Idle,
    /// A new head has started arriving: the header timeout runs.
    Head,
}

/// The socket as hyper sees it: first the bytes of the pre-read head, then the socket, with
/// the idle and header deadlines applied to reads between requests.
struct Guarded {
    stream: TcpStream,
    replay: Bytes,
    in_flight: Arc<InFlight>,
    phase: Phase,
    timer: Pin<Box<Sleep>>,
    limits: Limits,
}

impl Guarded {
    fn new(stream: TcpStream, replay: Bytes, in_flight: Arc<InFlight>, limits: Limits) -> Self {
        Guarded {
            stream,
            replay,
            in_flight,
            // The replayed head is about to become a request.
            phase: Phase::Busy,
            timer: Box::pin(tokio::time::sleep(limits.idle_timeout)),
            limits,
        }
    }
}

impl AsyncRead for Guarded {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if !this.replay.is_empty() {
            let n = this.replay.len().min(buf.remaining());
            buf.put_slice(&this.replay.split_to(n));
            return Poll::Ready(Ok(()));
        }
        if this.in_flight.busy() {
            this.phase = Phase::Busy;
            this.in_flight.register_reader(cx.waker());
            return Pin::new(&mut this.stream).poll_read(cx, buf);
        }
        if this.phase == Phase::Busy {
            this.phase = Phase::Idle;
            let deadline = Instant::now() + this.limits.idle_timeout;
            this.timer.as_mut().reset(deadline);
        }
        let before = buf.filled().len();
        match Pin::new(&mut this.stream).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if this.phase == Phase::Idle && buf.filled().len() > before {
                    this.phase = Phase::Head;
                    let deadline = Instant::now() + this.limits.header_timeout;
                    this.timer.as_mut().reset(deadline);
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => match this.timer.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    match this.phase {
                        Phase::Head => "request head timed out",
                        _ => "idle connection timed out",
                    },
                ))),
                Poll::Pending => Poll::Pending,
            },
        }
    }
}

impl AsyncWrite for Guarded {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(c: Check) -> Option<u16> {
        match c {
            Check::Reject(s, _) => Some(s.as_u16()),
            _ => None,
        }
    }

    #[test]
    fn heads_are_checked_against_the_limits() {
        let long_uri = format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(MAX_URI));
        let long_line = format!("GET /{}", "a".repeat(MAX_URI + 64));
        let big_head = format!(
            "GET / HTTP/1.1\r\n{}",
            format!("X-Filler: {}\r\n", "a".repeat(1000)).repeat(40)
        );
        let many = format!("GET / HTTP/1.1\r\n{}\r\n", "X-A: b\r\n".repeat(101));
        let cases: &[(&str, &[u8], Option<u16>, bool)] = &[
            ("complete", b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", None, true),
            (
                "leading blank line",
                b"\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n",
                None,
                true,
            ),
            (
                "half a header",
                b"GET /v1/health HTTP/1.1\r\nHost: x\r\nX-A:",
                None,
                false,
            ),
            ("target over 8 KiB", long_uri.as_bytes(), Some(414), false),
            (
                "request line still arriving",
                long_line.as_bytes(),
                Some(414),
                false,
            ),
            ("head over 32 KiB", big_head.as_bytes(), Some(431), false),
            ("more than 100 fields", many.as_bytes(), Some(431), false),
            ("garbage", b"\x01\x02 nonsense\r\n\r\n", Some(400), false),
            (
                "length",
                b"POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\n",
                None,
                true,
            ),
            (
                "negative length",
                b"POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
                Some(400),
                false,
            ),
            (
                "empty length",
                b"POST / HTTP/1.1\r\nContent-Length: \r\n\r\n",
                Some(400),
                false,
            ),
            (
                "signed length",
                b"POST / HTTP/1.1\r\nContent-Length: +5\r\n\r\n",
                Some(400),
                false,
            ),
            (
                "huge length",
                b"POST / HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n",
                Some(400),
                false,
            ),
            (
                "agreeing lengths",
                b"POST / HTTP/1.1\r\nContent-Length: 5\r\ncontent-length: 5, 5\r\n\r\n",
                None,
                true,
            ),
            (
                "disagreeing lengths",
                b"POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
                Some(400),
                false,
            ),
        ];
        for (name, head, want_status, want_complete) in cases {
            let got = check_head(head);
            assert_eq!(
                (got == Check::Complete, status(got)),
                (*want_complete, *want_status),
                "{name}"
            );
        }
    }

    #[test]
    fn a_cap_frees_its_place_when_the_connection_ends() {
        let registry = Arc::new(Registry::new(Limits {
            header_timeout: Duration::from_secs(1),
            body_timeout: Duration::from_secs(1),
            idle_timeout: Duration::from_secs(1),
            max_connections: 3,
            max_connections_per_ip: 2,
        }));
        let a: IpAddr = [10, 0, 0, 1].into();
        let b: IpAddr = [10, 0, 0, 2].into();
        let first = registry.admit(a);
        let second = registry.admit(a);
        assert!(first.is_some() && second.is_some());
        assert!(registry.admit(a).is_none(), "per-IP cap");
        let third = registry.admit(b);
        assert!(third.is_some());
        assert!(registry.admit(b).is_none(), "overall cap");
        drop(first);
        assert!(registry.admit(a).is_some(), "place freed");
    }
}
