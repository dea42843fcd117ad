//! The HTTP server: axum on loopback, every request handed to the shared `twostep::http::handle`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::Response;
use tracing::{Instrument, info_span};
use twostep::flow::App;
use twostep::http::{ApiError, ApiRequest, ApiResponse, MAX_BODY_BYTES, handle};

/// Largest body read before answering; bodies are refused above `MAX_BODY_BYTES` anyway.
const DRAIN_LIMIT: usize = 1024 * 1024;

/// How long a client may take to send its body: a client that stops half-way (or trickles
/// bytes) gets 408 and the connection closes, instead of holding a task forever.
const BODY_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves the API on `listen` until Ctrl-C; `on_ready` gets the bound address.
///
/// # Errors
/// When the address cannot be bound or the server fails.
pub async fn serve(
    app: Arc<App>,
    listen: SocketAddr,
    on_ready: impl FnOnce(SocketAddr),
) -> std::io::Result<()> {
    let router = Router::new().fallback(serve_one).with_state(app);
    let listener = tokio::net::TcpListener::bind(listen).await?;
    on_ready(listener.local_addr()?);
    axum::serve(listener, router)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
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
