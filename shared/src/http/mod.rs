//! The HTTP mapping shared by every Lambda and the local server: a plain request in, a plain
//! response out, no framework types. Adapters (lambda_http, axum) convert at their edge.

mod admin_handlers;
mod body;
mod error;
mod handlers;
pub mod routes;

use serde_json::Value;
use tracing::{info, instrument};

pub use error::{ApiError, MAX_BODY_BYTES};
pub use routes::{NoRoute, ROUTES, Route, RouteId, match_route};

use crate::flow::App;

/// A request as the handlers see it.
#[derive(Clone, Default)]
pub struct ApiRequest {
    /// `GET`, `POST`, …
    pub method: String,
    /// Path without query string.
    pub path: String,
    /// The query string without `?`, if any.
    pub query: Option<String>,
    /// The `Authorization` header, if any.
    pub authorization: Option<String>,
    /// The raw body (the edge refuses bodies far over [`MAX_BODY_BYTES`] before reading them).
    pub body: Vec<u8>,
}

impl std::fmt::Debug for ApiRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Bodies and the Authorization header hold passwords, codes and tokens.
        f.debug_struct("ApiRequest")
            .field("method", &self.method)
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// A response: status, headers, JSON body.
#[derive(Clone, Debug)]
pub struct ApiResponse {
    /// HTTP status.
    pub status: u16,
    /// Header names (lower case) and values.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl ApiResponse {
    /// A JSON response with `no-store` caching (every answer may carry a token).
    pub fn json(status: u16, body: &Value) -> Self {
        Self {
            status,
            headers: vec![
                ("content-type".to_owned(), "application/json".to_owned()),
                ("cache-control".to_owned(), "no-store".to_owned()),
            ],
            body: serde_json::to_vec(body).unwrap_or_default(),
        }
    }
}

/// Serves one request: route, decode, run the use case, encode; errors mapped in one place.
#[instrument(skip_all, fields(method = %request.method, route = tracing::field::Empty, status))]
pub async fn handle(app: &App, request: ApiRequest) -> ApiResponse {
    let result = dispatch(app, &request).await;
    let response = match result {
        Ok(response) => response,
        Err(err) => err.into_response(app.clock.now()),
    };
    tracing::Span::current().record("status", response.status);
    info!(status = response.status, "request served");
    response
}

async fn dispatch(app: &App, request: &ApiRequest) -> Result<ApiResponse, ApiError> {
    let (route, params) = match_route(&request.method, &request.path).map_err(|e| match e {
        NoRoute::NotFound => ApiError::RouteNotFound,
        NoRoute::MethodNotAllowed(allowed) => ApiError::MethodNotAllowed(allowed),
    })?;
    tracing::Span::current().record("route", tracing::field::debug(route));
    if request.body.len() > MAX_BODY_BYTES {
        return Err(ApiError::BodyTooLarge);
    }
    handlers::serve(app, route, &params, request).await
}
