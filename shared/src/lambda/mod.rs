//! The Lambda edge: config from the environment, SDK clients built once, API Gateway HTTP API
//! (v2) events converted to the shared `http::handle` and back. Each function serves only its
//! own routes (from `http::ROUTES`); anything else is a 404.

mod calls;
mod config;
mod logging;

use std::sync::Arc;

use lambda_http::{Body, Request, RequestExt as _, Response};
use tracing::Instrument as _;

pub use calls::AwsCalls;
pub use config::AwsSettings;
pub use logging::init_tracing;

use crate::adapters::dynamodb::DynamoStore;
use crate::adapters::kms::KmsSealer;
use crate::adapters::ses::SesMailer;
use crate::config::Config;
use crate::flow::App;
use crate::http::{ApiError, ApiRequest, ApiResponse, MAX_BODY_BYTES, ROUTES, handle};
use crate::ports::{Clock, OsRandom, SystemClock};

/// Why a function could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A setting is missing or wrong.
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    /// The App could not be built.
    #[error("{0}")]
    App(String),
}

/// Builds the App from the given SDK settings, with an optional call counter on every client.
/// Makes no network call: the SDK clients connect on first use.
///
/// # Errors
/// [`StartError`] naming what is missing.
pub fn app_from(
    sdk: &aws_config::SdkConfig,
    settings: &AwsSettings,
    config: Config,
    clock: Arc<dyn Clock>,
    calls: Option<&AwsCalls>,
) -> Result<App, StartError> {
    let mut dynamo = aws_sdk_dynamodb::config::Builder::from(sdk);
    let mut ses = aws_sdk_sesv2::config::Builder::from(sdk);
    let mut kms = aws_sdk_kms::config::Builder::from(sdk);
    if let Some(calls) = calls {
        dynamo = dynamo.interceptor(calls.clone());
        ses = ses.interceptor(calls.clone());
        kms = kms.interceptor(calls.clone());
    }
    let store = DynamoStore::new(
        aws_sdk_dynamodb::Client::from_conf(dynamo.build()),
        settings.table_name.clone(),
    );
    let mailer = SesMailer::new(
        aws_sdk_sesv2::Client::from_conf(ses.build()),
        settings.sender_email.clone(),
        settings.ses_configuration_set.clone(),
    );
    let sealer = KmsSealer::new(
        aws_sdk_kms::Client::from_conf(kms.build()),
        settings.kms_key_id.clone(),
    );
    App::new(
        Arc::new(store),
        Arc::new(mailer),
        Arc::new(sealer),
        clock,
        Arc::new(OsRandom),
        config,
    )
    .map_err(|e| StartError::App(e.to_string()))
}

/// Reads settings from the process environment and builds the App on the system clock.
///
/// # Errors
/// [`StartError`] naming what is missing.
pub async fn app_from_env() -> Result<App, StartError> {
    let var = |name: &str| std::env::var(name).ok();
    let settings = AwsSettings::from_vars(var)?;
    let config = Config::from_vars(var)?;
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    app_from(&sdk, &settings, config, Arc::new(SystemClock), None)
}

/// Serves one API Gateway event for `function`: only that function's routes are served.
pub async fn handle_event(app: &App, function: &str, event: Request) -> Response<Body> {
    let request_id = event
        .lambda_context_ref()
        .map(|c| c.request_id.clone())
        .unwrap_or_default();
    let span = tracing::info_span!("request", request_id = %request_id, function);
    async move {
        let request = to_api_request(&event);
        let owned = crate::http::match_route(&request.method, &request.path)
            .ok()
            .and_then(|(id, _)| ROUTES.iter().find(|r| r.id == id))
            .is_some_and(|r| r.function == function);
        let response = if !owned {
            ApiError::RouteNotFound.into_response(app.clock.now())
        } else if request.body.len() > MAX_BODY_BYTES {
            ApiError::BodyTooLarge.into_response(app.clock.now())
        } else {
            handle(app, request).await
        };
        to_lambda_response(response)
    }
    .instrument(span)
    .await
}

fn to_api_request(event: &Request) -> ApiRequest {
    let raw = event.raw_http_path();
    let path = if raw.is_empty() {
        event.uri().path()
    } else {
        raw
    };
    ApiRequest {
        method: event.method().as_str().to_owned(),
        path: path.to_owned(),
        query: event.uri().query().map(str::to_owned),
        authorization: event
            .headers()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        body: event.body().as_ref().to_vec(),
    }
}

fn to_lambda_response(response: ApiResponse) -> Response<Body> {
    let mut out = Response::new(Body::Text(
        String::from_utf8_lossy(&response.body).into_owned(),
    ));
    *out.status_mut() = lambda_http::http::StatusCode::from_u16(response.status)
        .unwrap_or(lambda_http::http::StatusCode::INTERNAL_SERVER_ERROR);
    for (name, value) in response.headers {
        if let (Ok(name), Ok(value)) = (
            lambda_http::http::HeaderName::try_from(name),
            lambda_http::http::HeaderValue::try_from(value),
        ) {
            out.headers_mut().insert(name, value);
        }
    }
    out
}

/// The whole `main` of an HTTP function: logging, App, then the Lambda runtime loop.
///
/// # Errors
/// A start-up failure (named setting missing) or a runtime failure.
pub async fn run_http(function: &'static str) -> Result<(), lambda_http::Error> {
    init_tracing();
    let app = Arc::new(app_from_env().await.map_err(|e| {
        tracing::error!(error = %e, "cannot start");
        e
    })?);
    lambda_http::run(lambda_http::service_fn(move |event: Request| {
        let app = app.clone();
        async move { Ok::<_, std::convert::Infallible>(handle_event(&app, function, event).await) }
    }))
    .await
}

/// Runs the enforce-logout job for one EventBridge scheduled event; returns what it did.
///
/// # Errors
/// A store fault while listing accounts (the invocation fails and EventBridge retries it).
pub async fn handle_schedule(
    app: &App,
    event: &serde_json::Value,
) -> Result<serde_json::Value, crate::flow::FlowError> {
    let source = event
        .get("source")
        .and_then(|v| v.as_str())
        .unwrap_or("unknown");
    let span = tracing::info_span!("schedule", source);
    async move {
        let report = crate::flow::job::enforce_logout(app).await?;
        Ok(serde_json::json!({
            "accounts_enforced": report.accounts_enforced,
            "sessions_ended": report.sessions_ended,
            "reminders_sent": report.reminders_sent,
        }))
    }
    .instrument(span)
    .await
}

/// The whole `main` of the enforce-logout function.
///
/// # Errors
/// A start-up failure or a runtime failure.
pub async fn run_schedule() -> Result<(), lambda_http::Error> {
    use lambda_http::lambda_runtime::{self, LambdaEvent};
    init_tracing();
    let app = Arc::new(app_from_env().await.map_err(|e| {
        tracing::error!(error = %e, "cannot start");
        e
    })?);
    lambda_runtime::run(lambda_runtime::service_fn(
        move |event: LambdaEvent<serde_json::Value>| {
            let app = app.clone();
            async move {
                // The detail is logged by the job; the runtime gets a fixed text.
                handle_schedule(&app, &event.payload)
                    .await
                    .map_err(|_| lambda_http::Error::from("enforce-logout run failed"))
            }
        },
    ))
    .await
}
