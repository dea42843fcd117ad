//! Operator actions (the ops CLI and the local demo): create accounts and users, switch 2FA.

use serde_json::json;

use crate::domain::email::Email;
use crate::domain::ids::{AccountId, UserId};
use crate::domain::model::{Account, ClientVersion, DeviceGroup, Policy, Role, User};
use crate::domain::password::{self, PasswordError};
use crate::domain::secret::SecretText;
use crate::flow::{App, FlowError, blocking, record_event};
use crate::ports::StoreError;

/// Creates an account with 2FA on or off; returns its id.
///
/// # Errors
/// [`FlowError::InvalidField`] for an empty name; a store fault.
pub async fn add_account(app: &App, name: &str, two_step: bool) -> Result<AccountId, FlowError> {
    let name = name.trim();
    if name.is_empty() || name.len() > 200 {
        return Err(FlowError::InvalidField {
            field: "name",
            reason: "1 to 200 characters".to_owned(),
        });
    }
    let now = app.clock.now();
    let id = AccountId::generate(app.rng.as_ref());
    let policy = Policy {
        enabled: two_step,
        enabled_at: two_step.then_some(now),
        required_client: app.config.required_client,
        ..Policy::default()
    };
    let account = Account {
        id: id.clone(),
        name: name.to_owned(),
        policy,
        created_at: now,
    };
    app.store.create_account(&account).await?;
    record_event(
        app,
        &id,
        "ops",
        None,
        "account_created",
        "ok",
        json!({ "two_step": two_step }),
    )
    .await;
    Ok(id)
}

/// Creates a user in `account`; returns the user id.
///
/// # Errors
/// [`FlowError::NotFound`] for an unknown account, [`FlowError::InvalidField`] for a bad email
/// or password, [`FlowError::Conflict`] when the email is taken.
pub async fn add_user(
    app: &App,
    account: &AccountId,
    email: &str,
    role: Role,
    device_group: &str,
    password: SecretText,
) -> Result<UserId, FlowError> {
    let email = Email::parse(email).map_err(|e| FlowError::InvalidField {
        field: "email",
        reason: e.to_string(),
    })?;
    app.store
        .get_account(account)
        .await?
        .ok_or(FlowError::NotFound)?;
    let rng = app.rng.clone();
    let hash = blocking(move || password::hash_password(&password, rng.as_ref())).await?;
    let hash = hash.map_err(|e| match e {
        PasswordError::Hashing => FlowError::Internal("password hashing failed".to_owned()),
        other => FlowError::InvalidField {
            field: "password",
            reason: other.to_string(),
        },
    })?;
    let user = User {
        id: UserId::generate(app.rng.as_ref()),
        account_id: account.clone(),
        email,
        role,
        device_group: device_group.to_owned(),
        password_hash: hash,
        device: None,
        totp_failures: 0,
        totp_locked_until: None,
        created_at: app.clock.now(),
    };
    match app.store.create_user(&user).await {
        Ok(()) => {}
        Err(StoreError::Conflict(_)) => return Err(FlowError::Conflict),
        Err(e) => return Err(e.into()),
    }
    let detail = json!({ "role": role.as_str(), "device_group": device_group });
    record_event(
        app,
        account,
        "ops",
        Some(&user.id),
        "user_created",
        "ok",
        detail,
    )
    .await;
    Ok(user.id)
}

/// Turns 2FA on or off for an account, from the ops CLI (no date, no version checks: the admin
/// API applies those).
///
/// # Errors
/// [`FlowError::NotFound`] for an unknown account; a store fault.
pub async fn set_two_step(app: &App, account: &AccountId, enabled: bool) -> Result<(), FlowError> {
    let current = app
        .store
        .get_account(account)
        .await?
        .ok_or(FlowError::NotFound)?;
    let mut policy = current.policy.clone();
    if enabled && !policy.enabled {
        policy.enabled_at = Some(app.clock.now());
    }
    if !enabled {
        policy.forced_logout_at = None;
    }
    policy.enabled = enabled;
    policy.version = current
        .policy
        .version
        .checked_add(1)
        .ok_or(FlowError::Conflict)?;
    app.store
        .update_policy(account, current.policy.version, &policy)
        .await?;
    let kind = if enabled {
        "two_step_enabled"
    } else {
        "two_step_disabled"
    };
    record_event(app, account, "ops", None, kind, "ok", json!({})).await;
    Ok(())
}

/// Records the client version of one device group of an account (ops and the demo).
///
/// # Errors
/// [`FlowError::NotFound`] for an unknown account; a store fault.
pub async fn set_device_group(
    app: &App,
    account: &AccountId,
    name: &str,
    client: ClientVersion,
) -> Result<(), FlowError> {
    let group = DeviceGroup {
        account_id: account.clone(),
        name: name.to_owned(),
        client,
        updated_at: app.clock.now(),
    };
    match app.store.put_device_group(&group).await {
        Ok(()) => Ok(()),
        Err(StoreError::NotFound) => Err(FlowError::NotFound),
        Err(e) => Err(e.into()),
    }
}
