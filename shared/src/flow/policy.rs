//! The account policy (set-policy): turn 2FA on or off, the forced-logout date, the required
//! client version, and the device groups' reported versions.
//!
//! Rules: enabling records `enabled_at`; `forced_logout_at` is an instant after now and at most
//! 336 hours after `enabled_at`; a changed date applies to everyone at once and is enforced again
//! by the job. Enabling (or raising the requirement while on) needs every device group at the
//! required client. Disabling keeps enrolled devices and clears the date.

use chrono::{DateTime, Duration, Utc};
use serde_json::json;
use tracing::{info, instrument};

use crate::domain::ids::AccountId;
use crate::domain::model::{Account, ClientVersion, DeviceGroup, Role};
use crate::domain::secret::SecretText;
use crate::flow::account::{Authenticated, authenticate};
use crate::flow::{App, FlowError, record_event};
use crate::ports::StoreError;

/// Longest time between enabling and the forced-logout date.
pub const MAX_FORCED_LOGOUT_AFTER_ENABLE: Duration = Duration::hours(336);

/// What an admin asks for with `PUT …/policy`.
#[derive(Debug, Clone)]
pub struct PolicyRequest {
    /// On or off.
    pub enabled: bool,
    /// The forced-logout date as sent (RFC 3339 with offset), or none.
    pub forced_logout_at: Option<String>,
    /// The oldest client allowed (default 4.3 build 1575).
    pub required_client: ClientVersion,
}

/// Resolves the session and checks that its user administers `account_id`: other accounts look
/// absent (404), agents are refused (403), and while 2FA is on the session must have passed it.
///
/// # Errors
/// [`FlowError::InvalidSession`], [`FlowError::NotFound`], [`FlowError::Forbidden`],
/// [`FlowError::SecondStepRequired`].
pub async fn authorize_admin(
    app: &App,
    token: &SecretText,
    account_id: &AccountId,
) -> Result<Authenticated, FlowError> {
    let auth = authenticate(app, token).await?;
    if &auth.user.account_id != account_id {
        return Err(FlowError::NotFound);
    }
    if auth.user.role != Role::Admin {
        return Err(FlowError::Forbidden);
    }
    if auth.account.policy.enabled && auth.session.second_step_at.is_none() {
        return Err(FlowError::SecondStepRequired);
    }
    Ok(auth)
}

/// The account's policy.
///
/// # Errors
/// As [`authorize_admin`].
#[instrument(skip_all, fields(account_id = %account_id))]
pub async fn get_policy(
    app: &App,
    token: &SecretText,
    account_id: &AccountId,
) -> Result<Account, FlowError> {
    Ok(authorize_admin(app, token, account_id).await?.account)
}

/// Parses the date and checks it against the allowed range.
fn forced_logout(
    raw: Option<&str>,
    now: DateTime<Utc>,
    enabled_at: DateTime<Utc>,
) -> Result<Option<DateTime<Utc>>, FlowError> {
    let Some(raw) = raw else {
        return Ok(None);
    };
    let latest = enabled_at + MAX_FORCED_LOGOUT_AFTER_ENABLE;
    let refuse = FlowError::InvalidForcedLogout { after: now, latest };
    let at = DateTime::parse_from_rfc3339(raw.trim())
        .map_err(|_| refuse)?
        .with_timezone(&Utc);
    if at <= now || at > latest {
        return Err(FlowError::InvalidForcedLogout { after: now, latest });
    }
    Ok(Some(at))
}

/// The groups that run clients older than `required` (unknown versions count as older): the
/// recorded groups and any group named by a user but never reported.
///
/// # Errors
/// A store fault.
pub async fn groups_below(
    app: &App,
    account: &AccountId,
    required: ClientVersion,
) -> Result<Vec<(String, Option<ClientVersion>)>, FlowError> {
    let recorded = app.store.list_device_groups(account).await?;
    let users = app.store.list_users(account).await?;
    let mut below: Vec<(String, Option<ClientVersion>)> = recorded
        .iter()
        .filter(|g| g.client < required)
        .map(|g| (g.name.clone(), Some(g.client)))
        .collect();
    for user in &users {
        let known = recorded.iter().any(|g| g.name == user.device_group);
        if !known && !below.iter().any(|(name, _)| name == &user.device_group) {
            below.push((user.device_group.clone(), None));
        }
    }
    below.sort();
    Ok(below)
}

/// Applies a policy change (compare and swap on the policy's version).
///
/// # Errors
/// As [`authorize_admin`]; [`FlowError::InvalidForcedLogout`],
/// [`FlowError::ForcedLogoutNeedsEnabled`], [`FlowError::DeviceGroupsBelow`],
/// [`FlowError::Conflict`].
#[instrument(skip_all, fields(account_id = %account_id, user_id = tracing::field::Empty))]
pub async fn put_policy(
    app: &App,
    token: &SecretText,
    account_id: &AccountId,
    request: PolicyRequest,
) -> Result<Account, FlowError> {
    let auth = authorize_admin(app, token, account_id).await?;
    tracing::Span::current().record("user_id", tracing::field::display(&auth.user.id));
    let actor = auth.user.id.clone();
    let enabled = request.enabled;
    let result = change_policy(app, account_id, auth, request).await;
    if let Err(err) = &result {
        // A refused change is audited too: who tried what, and why it was refused.
        if let Some(reason) = refusal(err) {
            let detail = json!({ "enabled": enabled, "refused": reason });
            let actor = actor.as_str();
            record_event(
                app,
                account_id,
                actor,
                None,
                "policy_changed",
                "refused",
                detail,
            )
            .await;
        }
    }
    result
}

/// Why a change was refused, for the audit trail; `None` for faults (not a decision).
fn refusal(err: &FlowError) -> Option<serde_json::Value> {
    Some(match err {
        FlowError::InvalidForcedLogout { after, latest } => {
            json!({ "reason": "forced_logout_out_of_range", "after": after, "latest": latest })
        }
        FlowError::ForcedLogoutNeedsEnabled => json!({ "reason": "forced_logout_needs_enabled" }),
        FlowError::DeviceGroupsBelow { groups, .. } => {
            let names: Vec<&str> = groups.iter().map(|(name, _)| name.as_str()).collect();
            json!({ "reason": "device_groups_below_required", "groups": names })
        }
        FlowError::Conflict => json!({ "reason": "conflict" }),
        _ => return None,
    })
}

async fn change_policy(
    app: &App,
    account_id: &AccountId,
    auth: Authenticated,
    request: PolicyRequest,
) -> Result<Account, FlowError> {
    let now = app.clock.now();
    let current = auth.account.policy.clone();
    if !request.enabled && request.forced_logout_at.is_some() {
        return Err(FlowError::ForcedLogoutNeedsEnabled);
    }

    let mut next = current.clone();
    next.enabled = request.enabled;
    next.required_client = request.required_client;
    if request.enabled {
        let enabled_at = if current.enabled {
            current.enabled_at.unwrap_or(now)
        } else {
            now
        };
        next.enabled_at = Some(enabled_at);
        next.forced_logout_at =
            forced_logout(request.forced_logout_at.as_deref(), now, enabled_at)?;
        let raising = !current.enabled || request.required_client > current.required_client;
        let below = if raising {
            groups_below(app, account_id, request.required_client).await?
        } else {
            Vec::new()
        };
        if !below.is_empty() {
            return Err(FlowError::DeviceGroupsBelow {
                required: request.required_client,
                groups: below,
            });
        }
    } else {
        next.forced_logout_at = None;
    }
    if next.forced_logout_at != current.forced_logout_at || !next.enabled {
        // A new date is enforced (and reminded of) afresh.
        next.forced_logout_done_at = None;
        next.forced_logout_sessions_ended = 0;
        next.reminder_3d_sent_at = None;
        next.reminder_1d_sent_at = None;
    }
    next.version = current.version.checked_add(1).ok_or(FlowError::Conflict)?;
    match app
        .store
        .update_policy(account_id, current.version, &next)
        .await
    {
        Ok(()) => {}
        Err(StoreError::Conflict(_)) => return Err(FlowError::Conflict),
        Err(e) => return Err(e.into()),
    }

    let detail = json!({
        "enabled": next.enabled,
        "was_enabled": current.enabled,
        "forced_logout_at": next.forced_logout_at,
        "required_client_version": next.required_client.version_text(),
        "required_client_build": next.required_client.build,
    });
    record_event(
        app,
        account_id,
        auth.user.id.as_str(),
        None,
        "policy_changed",
        "ok",
        detail,
    )
    .await;
    info!(enabled = next.enabled, "policy changed");
    Ok(Account {
        policy: next,
        ..auth.account
    })
}

/// Records the client version a device group runs.
///
/// # Errors
/// As [`authorize_admin`]; [`FlowError::InvalidField`] for a bad group name.
#[instrument(skip_all, fields(account_id = %account_id))]
pub async fn put_device_group(
    app: &App,
    token: &SecretText,
    account_id: &AccountId,
    name: &str,
    client: ClientVersion,
) -> Result<DeviceGroup, FlowError> {
    let auth = authorize_admin(app, token, account_id).await?;
    let group = DeviceGroup {
        account_id: account_id.clone(),
        name: name.to_owned(),
        client,
        updated_at: app.clock.now(),
    };
    app.store.put_device_group(&group).await?;
    let detail = json!({ "group": name, "client_version": client.version_text(), "client_build": client.build });
    record_event(
        app,
        account_id,
        auth.user.id.as_str(),
        None,
        "device_group_set",
        "ok",
        detail,
    )
    .await;
    Ok(group)
}
