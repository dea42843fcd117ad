//! Accounts and their policies, device groups, users and the audit trail: the long-lived rows.

use chrono::{DateTime, Utc};
use rusqlite::{Connection, params};

use super::rows::{
    self, ACCOUNT_COLUMNS, DEVICE_GROUP_COLUMNS, EVENT_COLUMNS, USER_COLUMNS, opt_ts, query_all,
    query_opt, to_json, ts,
};
use super::{db_err, insert_err, write_tx};
use crate::domain::email::Email;
use crate::domain::ids::{AccountId, UserId};
use crate::domain::model::{Account, AuditEvent, DeviceGroup, Policy, User};
use crate::ports::StoreError;

pub(super) fn create_account(conn: &Connection, account: &Account) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO accounts (id, name, policy, policy_version, created_at) \
         VALUES (?1, ?2, ?3, ?4, ?5)",
        params![
            account.id.as_str(),
            account.name,
            to_json(&account.policy, "policy")?,
            account.policy.version,
            ts(account.created_at)?
        ],
    )
    .map_err(|e| insert_err(e, "account exists"))?;
    Ok(())
}

pub(super) fn get_account(
    conn: &Connection,
    id: &AccountId,
) -> Result<Option<Account>, StoreError> {
    let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE id = ?1");
    query_opt(conn, &sql, [id.as_str()], rows::account)
}

pub(super) fn list_accounts(conn: &Connection) -> Result<Vec<Account>, StoreError> {
    let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM accounts ORDER BY created_at, id");
    query_all(conn, &sql, [], rows::account)
}

/// Checks, in order: the version advances by one (`Conflict`), the account exists
/// (`NotFound`), its policy is still at `expected_version` (`Conflict`). The JSON and the
/// `policy_version` column are written in one statement, so they never disagree.
pub(super) fn update_policy(
    conn: &mut Connection,
    id: &AccountId,
    expected_version: u64,
    policy: &Policy,
) -> Result<(), StoreError> {
    if expected_version.checked_add(1) != Some(policy.version) {
        return Err(StoreError::Conflict("policy version must advance by one"));
    }
    let tx = write_tx(conn)?;
    let current: Option<u64> = query_opt(
        &tx,
        "SELECT policy_version FROM accounts WHERE id = ?1",
        [id.as_str()],
        |row| row.get("policy_version").map_err(db_err),
    )?;
    match current {
        None => return Err(StoreError::NotFound),
        Some(v) if v != expected_version => return Err(StoreError::Conflict("policy changed")),
        Some(_) => {}
    }
    tx.execute(
        "UPDATE accounts SET policy = ?2, policy_version = ?3 WHERE id = ?1",
        params![id.as_str(), to_json(policy, "policy")?, policy.version],
    )
    .map_err(db_err)?;
    tx.commit().map_err(db_err)
}

/// One statement: inserts, or replaces the row with the same account and name.
pub(super) fn put_device_group(conn: &Connection, group: &DeviceGroup) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO device_groups (account_id, name, client_major, client_minor, client_build, \
         updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6) \
         ON CONFLICT (account_id, name) DO UPDATE SET client_major = excluded.client_major, \
         client_minor = excluded.client_minor, client_build = excluded.client_build, \
         updated_at = excluded.updated_at",
        params![
            group.account_id.as_str(),
            group.name,
            group.client.major,
            group.client.minor,
            group.client.build,
            ts(group.updated_at)?,
        ],
    )
    .map_err(|e| insert_err(e, "device group exists"))?;
    Ok(())
}

pub(super) fn list_device_groups(
    conn: &Connection,
    account: &AccountId,
) -> Result<Vec<DeviceGroup>, StoreError> {
    let sql = format!(
        "SELECT {DEVICE_GROUP_COLUMNS} FROM device_groups WHERE account_id = ?1 ORDER BY name"
    );
    query_all(conn, &sql, [account.as_str()], rows::device_group)
}

pub(super) fn create_user(conn: &mut Connection, user: &User) -> Result<(), StoreError> {
    let tx = write_tx(conn)?;

    // Checked first so that a taken email and a taken id give distinct details.
    let taken: bool = tx
        .query_row(
            "SELECT EXISTS (SELECT 1 FROM users WHERE email = ?1)",
            [user.email.as_str()],
            |r| r.get(0),
        )
        .map_err(db_err)?;
    if taken {
        return Err(StoreError::Conflict("email taken"));
    }

    let device = user.device.as_ref();
    tx.execute(
        "INSERT INTO users (id, account_id, email, role, device_group, password_hash, \
         device_id, device_secret, device_enrolled_at, device_last_step, totp_failures, \
         totp_locked_until, created_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
        params![
            user.id.as_str(),
            user.account_id.as_str(),
            user.email.as_str(),
            user.role.as_str(),
            user.device_group,
            user.password_hash,
            device.map(|d| d.id.as_str()),
            device.map(|d| d.sealed_secret.0.as_str()),
            opt_ts(device.map(|d| d.enrolled_at))?,
            device.map(|d| d.last_step),
            user.totp_failures,
            opt_ts(user.totp_locked_until)?,
            ts(user.created_at)?,
        ],
    )
    .map_err(|e| insert_err(e, "user exists"))?;
    tx.commit().map_err(db_err)
}

pub(super) fn get_user(conn: &Connection, id: &UserId) -> Result<Option<User>, StoreError> {
    let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id = ?1");
    query_opt(conn, &sql, [id.as_str()], rows::user)
}

pub(super) fn find_user_by_email(
    conn: &Connection,
    email: &Email,
) -> Result<Option<User>, StoreError> {
    let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE email = ?1");
    query_opt(conn, &sql, [email.as_str()], rows::user)
}

pub(super) fn list_users(conn: &Connection, account: &AccountId) -> Result<Vec<User>, StoreError> {
    let sql =
        format!("SELECT {USER_COLUMNS} FROM users WHERE account_id = ?1 ORDER BY created_at, id");
    query_all(conn, &sql, [account.as_str()], rows::user)
}

pub(super) fn append_event(conn: &Connection, event: &AuditEvent) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO events (id, account_id, at, actor, subject, kind, outcome, detail) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            event.id.as_str(),
            event.account_id.as_str(),
            ts(event.at)?,
            event.actor,
            event.subject.as_ref().map(UserId::as_str),
            event.kind,
            event.outcome,
            to_json(&event.detail, "event detail")?,
        ],
    )
    .map_err(|e| insert_err(e, "event exists"))?;
    Ok(())
}

pub(super) fn list_events(
    conn: &Connection,
    account: &AccountId,
    before: Option<(DateTime<Utc>, String)>,
    limit: u32,
) -> Result<Vec<AuditEvent>, StoreError> {
    match before {
        None => {
            let sql = format!(
                "SELECT {EVENT_COLUMNS} FROM events WHERE account_id = ?1 \
                 ORDER BY at DESC, id DESC LIMIT ?2"
            );
            query_all(conn, &sql, params![account.as_str(), limit], rows::event)
        }
        Some((at, id)) => {
            let sql = format!(
                "SELECT {EVENT_COLUMNS} FROM events WHERE account_id = ?1 AND (at, id) < (?2, ?3) \
                 ORDER BY at DESC, id DESC LIMIT ?4"
            );
            query_all(
                conn,
                &sql,
                params![account.as_str(), ts(at)?, id, limit],
                rows::event,
            )
        }
    }
}
