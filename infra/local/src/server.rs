//! The HTTP server: an HTTP/1.1 accept loop (hyper) on loopback, every request handed through
//! an axum router to the shared `twostep::http::handle`.
//!
//! A client cannot hold the server by being slow or silent:
//! - at most [`MAX_CONNECTIONS`] are open at once; further clients wait in the listen backlog
//!   without costing a file descriptor, so the process never runs out of them;
//! - request headers must arrive whole within [`HEADER_READ_TIMEOUT`] of the server starting to
//!   wait for them, which it does on a new connection and after every answer on a kept-alive
//!   one: the same timer closes trickled headers and idle connections;
//! - a body must arrive within [`BODY_READ_TIMEOUT`], else 408 and the connection closes;
//! - an answer must make progress within [`WRITE_STALL_TIMEOUT`]: a client that sends requests
//!   but stops reading the answers is dropped, not kept waiting on a full socket buffer.
//!
//! HTTP/2 is not spoken: a prior-knowledge (h2c) preface ends the connection unanswered.

use std::io;
use std::net::SocketAddr;
use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::Response;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;
use tracing::{Instrument, debug, info, info_span, warn};
use twostep::flow::App;

use crate::stall::StallGuard;
use twostep::http::{ApiError, ApiRequest, ApiResponse, MAX_BODY_BYTES, handle};

/// Largest body read before answering; bodies are refused above `MAX_BODY_BYTES` anyway.
const DRAIN_LIMIT: usize = 1024 * 1024;

/// How long a client may take to send its body: a client that stops half-way (or trickles
/// bytes) gets 408 and the connection closes, instead of holding a task forever.
const BODY_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a client may take to send a request's headers, counted from when the server starts
/// waiting for them: from the accept, and from the end of each answer on a kept-alive
/// connection. Past it the connection closes unanswered, so an idle connection lasts this long.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a write to a client may wait without progress before the connection is dropped
/// (see [`crate::stall::StallGuard`]).
const WRITE_STALL_TIMEOUT: Duration = Duration::from_secs(10);

/// Most connections open at once. Each costs a file descriptor and a task; beyond this the loop
/// stops accepting and new clients wait in the kernel's listen backlog until one closes.
const MAX_CONNECTIONS: usize = 1024;

/// How long a stop (Ctrl-C) waits for requests in progress before leaving anyway.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(15);

/// How long to pause after an accept error that is not the client's doing (such as running out
/// of file descriptors), instead of retrying in a busy loop.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_secs(1);

/// Least time between two "connection limit reached" warnings.
const LIMIT_WARNING_INTERVAL: Duration = Duration::from_secs(60);

/// Serves the API on `listen` until Ctrl-C; `on_ready` gets the bound address.
///
/// # Errors
/// When the address cannot be bound or its bound address cannot be read.
pub async fn serve(
    app: Arc<App>,
    listen: SocketAddr,
    on_ready: impl FnOnce(SocketAddr),
) -> io::Result<()> {
    let router = Router::new().fallback(serve_one).with_state(app);
    let listener = TcpListener::bind(listen).await?;
    on_ready(listener.local_addr()?);

    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT);
    let mut slots = Slots::new();
    let connections = GracefulShutdown::new();
    let mut stop = pin!(stop_signal());
    loop {
        let accepted = tokio::select! {
            () = &mut stop => break,
            accepted = slots.accept(&listener) => accepted,
        };
        let Some((stream, permit)) = accepted else {
            continue;
        };
        let service = TowerToHyperService::new(router.clone());
        let io = TokioIo::new(StallGuard::new(stream, WRITE_STALL_TIMEOUT));
        let connection = connections.watch(http.serve_connection(io, service));
        tokio::spawn(async move {
            match connection.await {
                Ok(()) => {}
                Err(err) if err.is_timeout() => debug!("slow or idle connection closed"),
                Err(err) => debug!(error = %err, "connection ended with an error"),
            }
            drop(permit);
        });
    }

    // Stop accepting, let requests in progress finish, close idle connections at once.
    drop(listener);
    info!(open = connections.count(), "stopping");
    if tokio::time::timeout(SHUTDOWN_GRACE, connections.shutdown())
        .await
        .is_err()
    {
        warn!("stopping with connections still open");
    }
    Ok(())
}

/// Resolves on Ctrl-C; never, if the signal cannot be watched (the process is then stopped
/// by other means, as it would be anyway).
async fn stop_signal() {
    if let Err(err) = tokio::signal::ctrl_c().await {
        warn!(error = %err, "cannot watch for Ctrl-C");
        std::future::pending::<()>().await;
    }
}

/// The connection cap: one semaphore permit per open connection.
struct Slots {
    permits: Arc<Semaphore>,
    last_warning: Option<Instant>,
}

impl Slots {
    fn new() -> Self {
        Slots {
            permits: Arc::new(Semaphore::new(MAX_CONNECTIONS)),
            last_warning: None,
        }
    }

    /// Waits for a free slot, then for a client; `None` after an accept error (already logged).
    /// The slot comes first so that, at the cap, clients stay in the backlog unaccepted.
    async fn accept(
        &mut self,
        listener: &TcpListener,
    ) -> Option<(TcpStream, OwnedSemaphorePermit)> {
        let permit = match self.permits.clone().try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => {
                self.warn_full();
                // The semaphore is never closed, so this only waits.
                self.permits.clone().acquire_owned().await.ok()?
            }
        };
        match listener.accept().await {
            Ok((stream, _peer)) => Some((stream, permit)),
            Err(err) => {
                accept_failed(&err).await;
                None
            }
        }
    }

    fn warn_full(&mut self) {
        let now = Instant::now();
        let due = self
            .last_warning
            .is_none_or(|last| now.duration_since(last) >= LIMIT_WARNING_INTERVAL);
        if due {
            self.last_warning = Some(now);
            warn!(
                limit = MAX_CONNECTIONS,
                "connection limit reached; new clients wait until one closes"
            );
        }
    }
}

/// Logs an accept error; pauses unless it concerns only the one client that went away.
async fn accept_failed(err: &io::Error) {
    use io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(
        err.kind(),
        ConnectionAborted | ConnectionRefused | ConnectionReset
    ) {
        debug!(error = %err, "client left before its connection was accepted");
        return;
    }
    warn!(error = %err, "accept failed; pausing");
    tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
}

async fn serve_one(State(app): State<Arc<App>>, request: Request) -> Response {
    let mut id = [0u8; 8];
    app.rng.fill(&mut id);
    let span = info_span!("request", request_id = %twostep::domain::ids::hex(&id));
    async move {
        let (parts, body) = request.into_parts();
        // Read (and so drain) up to 1 MiB, so that a client still sending sees the 413 instead
        // of a reset; bodies over the 16 KiB cap are refused either way, and ones over 1 MiB
        // also end the connection.
        let read = tokio::time::timeout(BODY_READ_TIMEOUT, to_bytes(body, DRAIN_LIMIT)).await;
        let Ok(read) = read else {
            return closing(ApiError::BodyTimeout.into_response(app.clock.now()));
        };
        let response = match read {
            Ok(bytes) if bytes.len() <= MAX_BODY_BYTES => {
                let request = ApiRequest {
                    method: parts.method.as_str().to_owned(),
                    path: parts.uri.path().to_owned(),
                    query: parts.uri.query().map(str::to_owned),
                    authorization: parts
                        .headers
                        .get("authorization")
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_owned),
                    body: bytes.to_vec(),
                };
                handle(&app, request).await
            }
            Ok(_) => ApiError::BodyTooLarge.into_response(app.clock.now()),
            Err(_) => return closing(ApiError::BodyTooLarge.into_response(app.clock.now())),
        };
        into_axum(response)
    }
    .instrument(span)
    .await
}

/// `response` with `Connection: close`: the rest of the body is not read, so the connection
/// cannot carry another request.
fn closing(mut response: ApiResponse) -> Response {
    response
        .headers
        .push(("connection".to_owned(), "close".to_owned()));
    into_axum(response)
}

fn into_axum(response: ApiResponse) -> Response {
    let mut out = Response::new(Body::from(response.body));
    *out.status_mut() = StatusCode::from_u16(response.status).unwrap_or(StatusCode::OK);
    for (name, value) in response.headers {
        if let (Ok(name), Ok(value)) = (HeaderName::try_from(name), HeaderValue::try_from(value)) {
            out.headers_mut().insert(name, value);
        }
    }
    out
}
