//! Account admin tools: the pre-flight report, the audit trail and resetting one user's 2FA.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use serde_json::json;
use tracing::{info, instrument};

use crate::domain::ids::{AccountId, UserId};
use crate::domain::model::{AuditEvent, ClientVersion, User};
use crate::domain::secret::SecretText;
use crate::flow::policy::{authorize_admin, groups_below};
use crate::flow::{App, FlowError, mail, record_event};
use crate::ports::StoreError;

/// Who the policy would block or sign out.
#[derive(Debug)]
pub struct Preflight {
    /// The requirement the report is against.
    pub required: ClientVersion,
    /// Users without a device.
    pub not_enrolled: Vec<User>,
    /// Users with sessions that have not passed the second step, and how many each: the
    /// forced-logout date ends them.
    pub sessions_to_end: Vec<(User, u32)>,
    /// Device groups below the requirement (unknown version: `None`).
    pub groups_below: Vec<(String, Option<ClientVersion>)>,
}

/// Lists, before or after enabling, who is not enrolled, whose sessions the date will end and
/// which device groups are below the required client.
///
/// # Errors
/// As [`authorize_admin`].
#[instrument(skip_all, fields(account_id = %account_id))]
pub async fn preflight(
    app: &App,
    token: &SecretText,
    account_id: &AccountId,
) -> Result<Preflight, FlowError> {
    let auth = authorize_admin(app, token, account_id).await?;
    let required = auth.account.policy.required_client;
    let users = app.store.list_users(account_id).await?;
    let sessions = app
        .store
        .list_account_sessions(account_id, app.clock.now())
        .await?;
    let not_enrolled = users
        .iter()
        .filter(|u| u.device.is_none())
        .cloned()
        .collect();
    let sessions_to_end = users
        .iter()
        .filter_map(|u| {
            let n = sessions
                .iter()
                .filter(|s| s.user_id == u.id && s.second_step_at.is_none())
                .count();
            (n > 0).then(|| (u.clone(), u32::try_from(n).unwrap_or(u32::MAX)))
        })
        .collect();
    Ok(Preflight {
        required,
        not_enrolled,
        sessions_to_end,
        groups_below: groups_below(app, account_id, required).await?,
    })
}

/// One page of the audit trail.
#[derive(Debug)]
pub struct EventPage {
    /// Newest first.
    pub events: Vec<AuditEvent>,
    /// Pass back as `cursor` for the next page; `None` on the last.
    pub next_cursor: Option<String>,
}

/// Most events per page.
pub const MAX_EVENT_PAGE: u32 = 100;

/// The account's audit events, newest first, paginated by an opaque cursor.
///
/// # Errors
/// As [`authorize_admin`]; [`FlowError::InvalidField`] for a bad cursor or limit.
#[instrument(skip_all, fields(account_id = %account_id))]
pub async fn events(
    app: &App,
    token: &SecretText,
    account_id: &AccountId,
    cursor: Option<&str>,
    limit: u32,
) -> Result<EventPage, FlowError> {
    authorize_admin(app, token, account_id).await?;
    if !(1..=MAX_EVENT_PAGE).contains(&limit) {
        return Err(FlowError::InvalidField {
            field: "limit",
            reason: format!("a whole number from 1 to {MAX_EVENT_PAGE}"),
        });
    }
    let before = cursor.map(decode_cursor).transpose()?;
    // One more than asked tells whether another page exists.
    let mut events = app.store.list_events(account_id, before, limit + 1).await?;
    let more = events.len() > limit as usize;
    events.truncate(limit as usize);
    let next_cursor = if more {
        events.last().map(encode_cursor)
    } else {
        None
    };
    Ok(EventPage {
        events,
        next_cursor,
    })
}

fn encode_cursor(event: &AuditEvent) -> String {
    URL_SAFE_NO_PAD.encode(format!("{}|{}", event.at.to_rfc3339(), event.id))
}

fn decode_cursor(raw: &str) -> Result<(DateTime<Utc>, String), FlowError> {
    let bad = || FlowError::InvalidField {
        field: "cursor",
        reason: "the next_cursor value of the previous page".to_owned(),
    };
    let bytes = URL_SAFE_NO_PAD.decode(raw.as_bytes()).map_err(|_| bad())?;
    let text = String::from_utf8(bytes).map_err(|_| bad())?;
    let (at, id) = text.split_once('|').ok_or_else(bad)?;
    let at = DateTime::parse_from_rfc3339(at)
        .map_err(|_| bad())?
        .with_timezone(&Utc);
    Ok((at, id.to_owned()))
}

/// Removes one user's device and ends their sessions; they enroll again at next sign-in and
/// are told by email.
///
/// # Errors
/// As [`authorize_admin`]; [`FlowError::NotFound`] for a user of another account;
/// [`FlowError::DeviceResetUnavailable`] when the user has no device.
#[instrument(skip_all, fields(account_id = %account_id, user_id = %user_id))]
pub async fn reset_user_device(
    app: &App,
    token: &SecretText,
    account_id: &AccountId,
    user_id: &UserId,
) -> Result<u32, FlowError> {
    let auth = authorize_admin(app, token, account_id).await?;
    let user = app
        .store
        .get_user(user_id)
        .await?
        .filter(|u| &u.account_id == account_id)
        .ok_or(FlowError::NotFound)?;
    let Some(device) = &user.device else {
        return Err(FlowError::DeviceResetUnavailable);
    };
    // Conditional on the device read: of concurrent resets one wins, so the user gets one
    // notice and the trail one event.
    let now = app.clock.now();
    match app.store.remove_device(&user.id, &device.id, now).await {
        Ok(()) => {}
        Err(StoreError::Conflict(_)) => return Err(FlowError::DeviceResetUnavailable),
        Err(StoreError::NotFound) => return Err(FlowError::NotFound),
        Err(e) => return Err(e.into()),
    }
    let ended = app.store.delete_user_sessions(&user.id).await?;
    let detail = json!({ "sessions_ended": ended });
    record_event(
        app,
        account_id,
        auth.user.id.as_str(),
        Some(&user.id),
        "admin_device_reset",
        "ok",
        detail,
    )
    .await;
    let notice = mail::device_reset(&user.email, &app.config.issuer);
    if let Err(err) = app.mailer.send(&notice).await {
        tracing::warn!(error = %err, "device reset notice not sent");
    }
    info!(sessions_ended = ended, "admin reset a user's device");
    Ok(ended)
}
