//! The one place where errors become HTTP: status, stable `code`, fixed message, headers.
//!
//! Messages are fixed texts that say what to do; no internal detail, serde text or secret ever
//! reaches the client. Faults are logged here with their detail, once.

use chrono::{DateTime, Utc};
use serde_json::json;
use tracing::error;

use crate::flow::FlowError;
use crate::http::ApiResponse;

/// Everything that can go wrong with a request: decoding problems and the flow's errors.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// A use case refused or failed.
    #[error(transparent)]
    Flow(#[from] FlowError),
    /// The body is not JSON, or not a JSON object.
    #[error("malformed JSON")]
    MalformedJson,
    /// The body is over the size cap.
    #[error("body too large")]
    BodyTooLarge,
    /// The body did not arrive within the server's read timeout (local server only; API
    /// Gateway buffers bodies before a function runs).
    #[error("body read timed out")]
    BodyTimeout,
    /// A required field is absent or null.
    #[error("missing field {0}")]
    MissingField(&'static str),
    /// A field has the wrong JSON type or shape.
    #[error("invalid field {field}")]
    InvalidField {
        /// The field.
        field: &'static str,
        /// What it must be.
        expected: &'static str,
    },
    /// A code that is not six digits after removing spaces.
    #[error("invalid code format")]
    InvalidCodeFormat,
    /// No `Authorization: Bearer` header.
    #[error("missing bearer token")]
    MissingBearer,
    /// No such route.
    #[error("no such route")]
    RouteNotFound,
    /// The route exists with other methods.
    #[error("method not allowed")]
    MethodNotAllowed(Vec<&'static str>),
    /// The route is in the contract but not served yet.
    #[error("not implemented")]
    NotImplemented,
}

/// Maximum body size in bytes; larger bodies are refused before parsing.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

struct Described {
    status: u16,
    code: &'static str,
    message: String,
    headers: Vec<(String, String)>,
    /// Machine-readable detail added to the error object (never secret).
    extra: Option<serde_json::Value>,
}

fn plain(status: u16, code: &'static str, message: &str) -> Described {
    described(status, code, message.to_owned())
}

fn described(status: u16, code: &'static str, message: String) -> Described {
    Described {
        status,
        code,
        message,
        headers: Vec::new(),
        extra: None,
    }
}

fn utc(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn retry_after(now: DateTime<Utc>, at: DateTime<Utc>) -> (String, String) {
    let secs = at.signed_duration_since(now).num_seconds().max(1);
    ("retry-after".to_owned(), secs.to_string())
}

fn describe_flow(err: &FlowError, now: DateTime<Utc>) -> Described {
    match err {
        FlowError::InvalidField { field, reason } => Described {
            status: 400,
            code: "invalid_field",
            message: format!("Field `{field}`: {reason}."),
            headers: Vec::new(),
            extra: None,
        },
        FlowError::PasswordTooLong => plain(
            400,
            "password_too_long",
            "The password must be at most 1024 bytes.",
        ),
        FlowError::InvalidCredentials => plain(
            401,
            "invalid_credentials",
            "The email or password is not right.",
        ),
        FlowError::InvalidChallenge => plain(
            401,
            "invalid_challenge",
            "This sign-in has expired or is not valid. Sign in again.",
        ),
        FlowError::WrongStep { state } => Described {
            status: 409,
            code: "wrong_step",
            message: format!(
                "This sign-in is at the `{}` step; finish that step first.",
                state.as_str()
            ),
            headers: Vec::new(),
            extra: None,
        },
        FlowError::InvalidCode => plain(401, "invalid_code", "That code is not right. Try again."),
        FlowError::CodeAlreadyUsed => plain(
            401,
            "code_already_used",
            "That code was already used. Wait for the next code in your app.",
        ),
        FlowError::EmailCodeExpired => plain(
            401,
            "email_code_expired",
            "That emailed code no longer works. Request a new one.",
        ),
        FlowError::TooManyAttempts { retry_at } => Described {
            status: 429,
            code: "too_many_attempts",
            message: format!("Too many attempts. Try again after {}.", utc(*retry_at)),
            headers: vec![retry_after(now, *retry_at)],
            extra: None,
        },
        FlowError::ClientUpgradeRequired { required } => Described {
            status: 426,
            code: "client_upgrade_required",
            message: format!(
                "Two-step verification needs client version {} build {} or later. Update the app.",
                required.version_text(),
                required.build
            ),
            headers: Vec::new(),
            extra: Some(json!({
                "required_client_version": required.version_text(),
                "required_client_build": required.build,
            })),
        },
        FlowError::InvalidSession => plain(
            401,
            "invalid_session",
            "The session is not valid. Sign in again.",
        ),
        FlowError::ReauthenticationRequired => plain(
            403,
            "reauthentication_required",
            "Sign in again with your app's code (within the last 15 minutes) to do this.",
        ),
        FlowError::DeviceResetUnavailable => plain(
            409,
            "device_reset_unavailable",
            "There is no two-step device to replace on this account.",
        ),
        FlowError::Forbidden => plain(
            403,
            "forbidden",
            "Only an admin of this account may do this.",
        ),
        FlowError::SecondStepRequired => plain(
            403,
            "second_step_required",
            "Two-step verification is on: sign in again with your app's code to do this.",
        ),
        FlowError::InvalidForcedLogout { after, latest } => described(
            400,
            "invalid_forced_logout_at",
            format!(
                "Field `forced_logout_at` must be an RFC 3339 date and time with an offset, such \
                 as 2026-12-10T09:00:00+01:00, after {} and at most {} (UTC; 14 days after \
                 two-step verification was enabled).",
                utc(*after),
                utc(*latest)
            ),
        ),
        FlowError::ForcedLogoutNeedsEnabled => plain(
            400,
            "invalid_field",
            "Field `forced_logout_at` must be null when `enabled` is false.",
        ),
        FlowError::DeviceGroupsBelow { required, groups } => {
            let names: Vec<&str> = groups.iter().map(|(name, _)| name.as_str()).collect();
            let list: Vec<serde_json::Value> = groups
                .iter()
                .map(|(name, client)| {
                    json!({
                        "name": name,
                        "client_version": client.map(|c| c.version_text()),
                        "client_build": client.map(|c| c.build),
                    })
                })
                .collect();
            let mut d = described(
                409,
                "device_groups_below_required",
                format!(
                    "Every device group needs client {} build {} or later first; below: {}.",
                    required.version_text(),
                    required.build,
                    names.join(", ")
                ),
            );
            d.extra = Some(json!({ "device_groups": list }));
            d
        }
        FlowError::NotFound => plain(404, "not_found", "Nothing is there."),
        FlowError::Conflict => plain(
            409,
            "conflict",
            "Another request changed this at the same time. Repeat the request.",
        ),
        FlowError::Unavailable(detail) => {
            error!(error = %detail, "dependency unavailable");
            plain(
                503,
                "service_unavailable",
                "The service is temporarily unavailable. Try again shortly.",
            )
        }
        FlowError::Internal(detail) => {
            error!(error = %detail, "internal error");
            plain(500, "internal_error", "Something went wrong on our side.")
        }
    }
}

fn describe(err: &ApiError, now: DateTime<Utc>) -> Described {
    match err {
        ApiError::Flow(flow) => describe_flow(flow, now),
        ApiError::MalformedJson => plain(400, "malformed_json", "The body must be a JSON object."),
        ApiError::BodyTooLarge => plain(413, "body_too_large", "The body must be at most 16 KiB."),
        ApiError::BodyTimeout => plain(
            408,
            "request_timeout",
            "The request body did not arrive in time. Send the whole body without pausing.",
        ),
        ApiError::MissingField(field) => Described {
            status: 400,
            code: "missing_field",
            message: format!("Field `{field}` is required."),
            headers: Vec::new(),
            extra: None,
        },
        ApiError::InvalidField { field, expected } => Described {
            status: 400,
            code: "invalid_field",
            message: format!("Field `{field}` must be {expected}."),
            headers: Vec::new(),
            extra: None,
        },
        ApiError::InvalidCodeFormat => plain(
            400,
            "invalid_code_format",
            "Field `code` must be six digits, like \"012345\" (spaces are ignored).",
        ),
        ApiError::MissingBearer => plain(
            401,
            "invalid_session",
            "Send the session token as `Authorization: Bearer <token>`.",
        ),
        ApiError::RouteNotFound => plain(404, "not_found", "No such route."),
        ApiError::MethodNotAllowed(allowed) => Described {
            status: 405,
            code: "method_not_allowed",
            message: format!("Use {} on this route.", allowed.join(" or ")),
            headers: vec![("allow".to_owned(), allowed.join(", "))],
            extra: None,
        },
        ApiError::NotImplemented => {
            plain(501, "not_implemented", "This route is not available yet.")
        }
    }
}

impl ApiError {
    /// The stable error code.
    pub fn code(&self, now: DateTime<Utc>) -> &'static str {
        describe(self, now).code
    }

    /// The HTTP response: status, `{"error": {"code", "message"}}` and headers.
    pub fn into_response(self, now: DateTime<Utc>) -> ApiResponse {
        let d = describe(&self, now);
        let mut error = json!({ "code": d.code, "message": d.message });
        if let (Some(serde_json::Value::Object(extra)), Some(obj)) =
            (d.extra, error.as_object_mut())
        {
            obj.extend(extra);
        }
        let body = json!({ "error": error });
        let mut response = ApiResponse::json(d.status, &body);
        response.headers.extend(d.headers);
        response
    }
}
