//! One handler per route: decode the body, call the use case, encode the answer. No rules here.

use serde_json::{Value, json};

use crate::domain::model::ClientVersion;
use crate::flow::{self, App, ClientInfo, IssuedToken, SignInOutcome};
use crate::http::body::{Body, bearer};
use crate::http::{ApiError, ApiRequest, ApiResponse, RouteId};

/// Serves `route` for `request`.
pub(crate) async fn serve(
    app: &App,
    route: RouteId,
    params: &[String],
    request: &ApiRequest,
) -> Result<ApiResponse, ApiError> {
    match route {
        RouteId::SignIn => sign_in(app, request).await,
        RouteId::SendVerificationEmail => send_email(app, request).await,
        RouteId::ConfirmEmailCode => confirm_email(app, request).await,
        RouteId::LinkDevice => link_device(app, request).await,
        RouteId::VerifyTotp => verify_totp(app, request).await,
        RouteId::ResetDevice => reset_device(app, request).await,
        RouteId::SignOut => sign_out(app, request).await,
        RouteId::Me => me(app, request).await,
        RouteId::GetPolicy
        | RouteId::PutPolicy
        | RouteId::PutDeviceGroup
        | RouteId::Preflight
        | RouteId::Events
        | RouteId::AdminResetDevice => {
            crate::http::admin_handlers::serve(app, route, params, request).await
        }
    }
}

fn token_json(issued: &IssuedToken) -> Value {
    json!({ "token": issued.token.expose(), "expires_at": issued.expires_at })
}

fn ok(body: &Value) -> Result<ApiResponse, ApiError> {
    Ok(ApiResponse::json(200, body))
}

const PLATFORMS: &[&str] = &["windows", "mac", "android", "ios", "web"];

fn client_info(body: &Body) -> Result<Option<ClientInfo>, ApiError> {
    let Some(client) = body.object("client")? else {
        return Ok(None);
    };
    let platform = client.string("platform")?;
    if !PLATFORMS.contains(&platform) {
        return Err(ApiError::InvalidField {
            field: "platform",
            expected: "one of windows, mac, android, ios, web",
        });
    }
    let build = client.u32("build")?;
    let version =
        ClientVersion::parse(client.string("version")?, build).ok_or(ApiError::InvalidField {
            field: "version",
            expected: "a version like \"4.3\"",
        })?;
    Ok(Some(ClientInfo {
        platform: platform.to_owned(),
        version,
    }))
}

async fn sign_in(app: &App, request: &ApiRequest) -> Result<ApiResponse, ApiError> {
    let body = Body::parse(&request.body)?;
    let email = body.string("email")?;
    let password = body.secret("password")?;
    let client = client_info(&body)?;
    let outcome = flow::sign_in(app, email, password, client).await?;
    let answer = match outcome {
        SignInOutcome::SignedIn(s) => json!({ "status": "signed_in", "session": token_json(&s) }),
        SignInOutcome::EnrollmentRequired(c) => {
            json!({ "status": "enrollment_required", "challenge": token_json(&c) })
        }
        SignInOutcome::TotpRequired(c) => {
            json!({ "status": "totp_required", "challenge": token_json(&c) })
        }
    };
    ok(&answer)
}

async fn send_email(app: &App, request: &ApiRequest) -> Result<ApiResponse, ApiError> {
    let body = Body::parse(&request.body)?;
    let sent = flow::send_verification_email(app, body.challenge()?).await?;
    ok(&json!({
        "status": "email_sent",
        "challenge": token_json(&sent.challenge),
        "email_hint": sent.email_hint,
        "code_expires_at": sent.code_expires_at,
        "resend_available_at": sent.resend_available_at,
    }))
}

async fn confirm_email(app: &App, request: &ApiRequest) -> Result<ApiResponse, ApiError> {
    let body = Body::parse(&request.body)?;
    let challenge = body.challenge()?;
    let code = body.code()?;
    let issued = flow::confirm_email_code(app, challenge, &code).await?;
    ok(&json!({ "status": "email_verified", "challenge": token_json(&issued) }))
}

async fn link_device(app: &App, request: &ApiRequest) -> Result<ApiResponse, ApiError> {
    let body = Body::parse(&request.body)?;
    let setup = flow::link_device(app, body.challenge()?).await?;
    ok(&json!({
        "status": "device_pending",
        "challenge": token_json(&setup.challenge),
        "device": {
            "manual_key": setup.manual_key.expose(),
            "manual_key_grouped": setup.manual_key_grouped.expose(),
            "otpauth_uri": setup.otpauth_uri.expose(),
            "qr_code_png": setup.qr_code_png.expose(),
            "issuer": setup.issuer,
            "account_name": setup.account_name,
            "algorithm": "SHA1",
            "digits": 6,
            "period": 30,
        },
    }))
}

async fn verify_totp(app: &App, request: &ApiRequest) -> Result<ApiResponse, ApiError> {
    let body = Body::parse(&request.body)?;
    let challenge = body.challenge()?;
    let code = body.code()?;
    let session = flow::verify_totp(app, challenge, &code).await?;
    ok(&json!({ "status": "signed_in", "session": token_json(&session) }))
}

async fn reset_device(app: &App, request: &ApiRequest) -> Result<ApiResponse, ApiError> {
    let token = bearer(request.authorization.as_deref())?;
    let issued = flow::reset_device(app, &token).await?;
    ok(&json!({ "status": "enrollment_required", "challenge": token_json(&issued) }))
}

async fn sign_out(app: &App, request: &ApiRequest) -> Result<ApiResponse, ApiError> {
    let token = bearer(request.authorization.as_deref())?;
    flow::sign_out(app, &token).await?;
    ok(&json!({ "status": "signed_out" }))
}

async fn me(app: &App, request: &ApiRequest) -> Result<ApiResponse, ApiError> {
    let token = bearer(request.authorization.as_deref())?;
    let view = flow::me(app, &token).await?;
    ok(&json!({
        "user_id": view.user.id,
        "account_id": view.user.account_id,
        "email": view.user.email,
        "role": view.user.role.as_str(),
        "device_group": view.user.device_group,
        "two_step": {
            "required": view.required,
            "enrolled": view.enrolled_at.is_some(),
            "enrolled_at": view.enrolled_at,
            "can_reset_device": view.can_reset_device,
            "session_second_step_at": view.second_step_at,
        },
    }))
}
