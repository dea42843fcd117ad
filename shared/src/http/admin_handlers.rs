//! Handlers for the admin routes: policy, device groups, pre-flight, events, user reset.

use serde_json::{Value, json};

use crate::domain::ids::{AccountId, UserId};
use crate::domain::model::{Account, AuditEvent, ClientVersion, User};
use crate::flow::App;
use crate::flow::admin::{self, Preflight};
use crate::flow::policy::{self, MAX_FORCED_LOGOUT_AFTER_ENABLE, PolicyRequest};
use crate::http::body::{Body, bearer, query_param};
use crate::http::{ApiError, ApiRequest, ApiResponse, RouteId};

/// Serves an admin route; `params` are the path's `{…}` segments in order.
pub(crate) async fn serve(
    app: &App,
    route: RouteId,
    params: &[String],
    request: &ApiRequest,
) -> Result<ApiResponse, ApiError> {
    let token = bearer(request.authorization.as_deref())?;
    let account = AccountId::from_raw(params.first().cloned().unwrap_or_default());
    let second = params.get(1).cloned().unwrap_or_default();
    let body = match route {
        RouteId::GetPolicy => policy_json(&policy::get_policy(app, &token, &account).await?),
        RouteId::PutPolicy => {
            let request = policy_request(&Body::parse(&request.body)?, app.config.required_client)?;
            policy_json(&policy::put_policy(app, &token, &account, request).await?)
        }
        RouteId::PutDeviceGroup => {
            let body = Body::parse(&request.body)?;
            let build = body.u32("client_build")?;
            let client = ClientVersion::parse(body.string("client_version")?, build).ok_or(
                ApiError::InvalidField {
                    field: "client_version",
                    expected: "a version like \"4.3\"",
                },
            )?;
            let group = policy::put_device_group(app, &token, &account, &second, client).await?;
            json!({
                "name": group.name,
                "client_version": group.client.version_text(),
                "client_build": group.client.build,
                "updated_at": group.updated_at,
            })
        }
        RouteId::Preflight => preflight_json(&admin::preflight(app, &token, &account).await?),
        RouteId::Events => {
            let query = request.query.as_deref();
            let limit = match query_param(query, "limit") {
                None => 50,
                Some(raw) => raw.parse().map_err(|_| ApiError::InvalidField {
                    field: "limit",
                    expected: "a whole number from 1 to 100",
                })?,
            };
            let cursor = query_param(query, "cursor");
            let page = admin::events(app, &token, &account, cursor, limit).await?;
            json!({
                "events": page.events.iter().map(event_json).collect::<Vec<_>>(),
                "next_cursor": page.next_cursor,
            })
        }
        RouteId::AdminResetDevice => {
            let user = UserId::from_raw(second);
            let ended = admin::reset_user_device(app, &token, &account, &user).await?;
            json!({ "status": "device_reset", "user_id": user, "sessions_ended": ended })
        }
        _ => return Err(ApiError::RouteNotFound),
    };
    Ok(ApiResponse::json(200, &body))
}

fn policy_request(body: &Body, default: ClientVersion) -> Result<PolicyRequest, ApiError> {
    let build = body
        .opt_u32("required_client_build")?
        .unwrap_or(default.build);
    let required_client = match body.opt_string("required_client_version")? {
        None => ClientVersion { build, ..default },
        Some(v) => ClientVersion::parse(v, build).ok_or(ApiError::InvalidField {
            field: "required_client_version",
            expected: "a version like \"4.3\"",
        })?,
    };
    Ok(PolicyRequest {
        enabled: body.bool("enabled")?,
        forced_logout_at: body.opt_string("forced_logout_at")?.map(str::to_owned),
        required_client,
    })
}

fn policy_json(account: &Account) -> Value {
    let p = &account.policy;
    json!({
        "account_id": account.id,
        "enabled": p.enabled,
        "enabled_at": p.enabled_at,
        "forced_logout_at": p.forced_logout_at,
        "forced_logout_latest": p.enabled_at.map(|at| at + MAX_FORCED_LOGOUT_AFTER_ENABLE),
        "required_client_version": p.required_client.version_text(),
        "required_client_build": p.required_client.build,
        "enforcement": {
            "forced_logout_done_at": p.forced_logout_done_at,
            "sessions_ended": p.forced_logout_sessions_ended,
            "reminder_3d_sent_at": p.reminder_3d_sent_at,
            "reminder_1d_sent_at": p.reminder_1d_sent_at,
        },
    })
}

fn user_ref(user: &User) -> Value {
    json!({ "user_id": user.id, "email": user.email, "role": user.role.as_str() })
}

fn preflight_json(report: &Preflight) -> Value {
    json!({
        "required_client_version": report.required.version_text(),
        "required_client_build": report.required.build,
        "users_not_enrolled": report.not_enrolled.iter().map(user_ref).collect::<Vec<_>>(),
        "users_with_sessions_to_end": report.sessions_to_end.iter().map(|(u, n)| json!({
            "user_id": u.id,
            "email": u.email,
            "role": u.role.as_str(),
            "sessions": n,
        })).collect::<Vec<_>>(),
        "device_groups_below": report.groups_below.iter().map(|(name, client)| json!({
            "name": name,
            "client_version": client.map(|c| c.version_text()),
            "client_build": client.map(|c| c.build),
        })).collect::<Vec<_>>(),
    })
}

fn event_json(e: &AuditEvent) -> Value {
    json!({
        "id": e.id,
        "at": e.at,
        "actor": e.actor,
        "subject": e.subject,
        "kind": e.kind,
        "outcome": e.outcome,
        "detail": e.detail,
    })
}
