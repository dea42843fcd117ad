//! The HTTP server: axum on loopback, every request handed to the shared `twostep::http::handle`.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::Response;
use tracing::{Instrument, info_span};
use twostep::flow::App;
use twostep::http::{ApiError, ApiRequest, ApiResponse, MAX_BODY_BYTES, handle};

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
        // Read one byte past the cap so that an oversized body is refused, not truncated.
        let response = match to_bytes(body, MAX_BODY_BYTES + 1).await {
            Ok(bytes) => {
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
            Err(_) => ApiError::BodyTooLarge.into_response(app.clock.now()),
        };
        into_axum(response)
    }
    .instrument(span)
    .await
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
