//! Conversions between rows and records: times, JSON columns, and one reader per table.

use chrono::{DateTime, Datelike, Duration, SecondsFormat, Utc};
use rusqlite::{Connection, Params, Row};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::db_err;
use crate::domain::email::Email;
use crate::domain::ids::{AccountId, DeviceId, EventId, UserId};
use crate::domain::model::{
    Account, AuditEvent, Challenge, ClientVersion, Device, DeviceGroup, Policy, Role, SealedSecret,
    Session, User,
};
use crate::domain::token::TokenHash;
use crate::ports::StoreError;

/// The columns [`account`] reads, in a `SELECT`.
pub(super) const ACCOUNT_COLUMNS: &str = "id, name, policy, policy_version, created_at";

/// The columns [`device_group`] reads.
pub(super) const DEVICE_GROUP_COLUMNS: &str =
    "account_id, name, client_major, client_minor, client_build, updated_at";

/// The columns [`user`] reads, in a `SELECT`.
pub(super) const USER_COLUMNS: &str = "id, account_id, email, role, device_group, \
    password_hash, device_id, device_secret, device_enrolled_at, device_last_step, \
    totp_failures, totp_locked_until, created_at";

/// The columns [`session`] reads.
pub(super) const SESSION_COLUMNS: &str =
    "token_hash, user_id, account_id, created_at, expires_at, second_step_at";

/// The columns [`event`] reads.
pub(super) const EVENT_COLUMNS: &str = "id, account_id, at, actor, subject, kind, outcome, detail";

/// `t` as stored: fixed-width RFC 3339, so that text order is time order.
///
/// # Errors
/// [`StoreError::Unavailable`] for years outside 0000–9999, whose text would sort wrongly.
pub(super) fn ts(t: DateTime<Utc>) -> Result<String, StoreError> {
    if !(0..=9999).contains(&t.year()) {
        return Err(StoreError::Unavailable(
            "timestamp outside years 0000-9999".to_owned(),
        ));
    }
    Ok(t.to_rfc3339_opts(SecondsFormat::Nanos, true))
}

/// `ts(t)` for an optional time.
pub(super) fn opt_ts(t: Option<DateTime<Utc>>) -> Result<Option<String>, StoreError> {
    t.map(ts).transpose()
}

/// `now + by`, refusing an overflow instead of panicking.
pub(super) fn later(now: DateTime<Utc>, by: Duration) -> Result<DateTime<Utc>, StoreError> {
    now.checked_add_signed(by)
        .ok_or_else(|| StoreError::Unavailable("time out of range".to_owned()))
}

fn parse_ts(text: &str, column: &str) -> Result<DateTime<Utc>, StoreError> {
    // The value is left out of the message: only the column is worth logging.
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| StoreError::Unavailable(format!("corrupt time in column {column}")))
}

/// `value` as JSON text.
pub(super) fn to_json<T: Serialize>(value: &T, what: &str) -> Result<String, StoreError> {
    serde_json::to_string(value)
        .map_err(|e| StoreError::Unavailable(format!("cannot encode {what}: {:?}", e.classify())))
}

fn from_json<T: DeserializeOwned>(text: &str, what: &str) -> Result<T, StoreError> {
    // serde's message can quote the offending value (a sealed secret, say): keep only where.
    serde_json::from_str(text).map_err(|e| {
        StoreError::Unavailable(format!(
            "corrupt {what} JSON ({:?} at line {} column {})",
            e.classify(),
            e.line(),
            e.column()
        ))
    })
}

fn text(row: &Row<'_>, column: &str) -> Result<String, StoreError> {
    row.get(column).map_err(db_err)
}

fn opt_text(row: &Row<'_>, column: &str) -> Result<Option<String>, StoreError> {
    row.get(column).map_err(db_err)
}

fn time(row: &Row<'_>, column: &str) -> Result<DateTime<Utc>, StoreError> {
    parse_ts(&text(row, column)?, column)
}

fn opt_time(row: &Row<'_>, column: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
    opt_text(row, column)?
        .map(|t| parse_ts(&t, column))
        .transpose()
}

/// Every row `sql` returns, each through `read`.
pub(super) fn query_all<T>(
    conn: &Connection,
    sql: &str,
    params: impl Params,
    read: fn(&Row<'_>) -> Result<T, StoreError>,
) -> Result<Vec<T>, StoreError> {
    let mut stmt = conn.prepare_cached(sql).map_err(db_err)?;
    let mut rows = stmt.query(params).map_err(db_err)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().map_err(db_err)? {
        out.push(read(row)?);
    }
    Ok(out)
}

/// The first row `sql` returns, through `read`, if any.
pub(super) fn query_opt<T>(
    conn: &Connection,
    sql: &str,
    params: impl Params,
    read: fn(&Row<'_>) -> Result<T, StoreError>,
) -> Result<Option<T>, StoreError> {
    let mut stmt = conn.prepare_cached(sql).map_err(db_err)?;
    let mut rows = stmt.query(params).map_err(db_err)?;
    rows.next().map_err(db_err)?.map(read).transpose()
}

/// Reads [`ACCOUNT_COLUMNS`]. The `policy_version` column, which the compare-and-swap tests,
/// is the policy's version (the JSON holds the same number, written in the same statement).
pub(super) fn account(row: &Row<'_>) -> Result<Account, StoreError> {
    let mut policy: Policy = from_json(&text(row, "policy")?, "policy")?;
    policy.version = row.get("policy_version").map_err(db_err)?;
    Ok(Account {
        id: AccountId::from_raw(text(row, "id")?),
        name: text(row, "name")?,
        policy,
        created_at: time(row, "created_at")?,
    })
}

/// Reads [`DEVICE_GROUP_COLUMNS`].
pub(super) fn device_group(row: &Row<'_>) -> Result<DeviceGroup, StoreError> {
    Ok(DeviceGroup {
        account_id: AccountId::from_raw(text(row, "account_id")?),
        name: text(row, "name")?,
        client: ClientVersion {
            major: row.get("client_major").map_err(db_err)?,
            minor: row.get("client_minor").map_err(db_err)?,
            build: row.get("client_build").map_err(db_err)?,
        },
        updated_at: time(row, "updated_at")?,
    })
}

/// Reads [`USER_COLUMNS`].
pub(super) fn user(row: &Row<'_>) -> Result<User, StoreError> {
    let role = match text(row, "role")?.as_str() {
        "agent" => Role::Agent,
        "admin" => Role::Admin,
        _ => {
            return Err(StoreError::Unavailable(
                "corrupt role in column role".to_owned(),
            ));
        }
    };
    let device = match opt_text(row, "device_id")? {
        None => None,
        Some(id) => Some(Device {
            id: DeviceId::from_raw(id),
            sealed_secret: SealedSecret(text(row, "device_secret")?),
            enrolled_at: time(row, "device_enrolled_at")?,
            last_step: row.get("device_last_step").map_err(db_err)?,
        }),
    };
    Ok(User {
        id: UserId::from_raw(text(row, "id")?),
        account_id: AccountId::from_raw(text(row, "account_id")?),
        email: Email::from_normalised(text(row, "email")?),
        role,
        device_group: text(row, "device_group")?,
        password_hash: text(row, "password_hash")?,
        device,
        totp_failures: row.get("totp_failures").map_err(db_err)?,
        totp_locked_until: opt_time(row, "totp_locked_until")?,
        created_at: time(row, "created_at")?,
    })
}

/// Reads `body`: the whole challenge.
pub(super) fn challenge(row: &Row<'_>) -> Result<Challenge, StoreError> {
    from_json(&text(row, "body")?, "challenge")
}

/// Reads [`SESSION_COLUMNS`].
pub(super) fn session(row: &Row<'_>) -> Result<Session, StoreError> {
    Ok(Session {
        token_hash: TokenHash::from_raw(text(row, "token_hash")?),
        user_id: UserId::from_raw(text(row, "user_id")?),
        account_id: AccountId::from_raw(text(row, "account_id")?),
        created_at: time(row, "created_at")?,
        expires_at: time(row, "expires_at")?,
        second_step_at: opt_time(row, "second_step_at")?,
    })
}

/// Reads [`EVENT_COLUMNS`].
pub(super) fn event(row: &Row<'_>) -> Result<AuditEvent, StoreError> {
    Ok(AuditEvent {
        id: EventId::from_raw(text(row, "id")?),
        account_id: AccountId::from_raw(text(row, "account_id")?),
        at: time(row, "at")?,
        actor: text(row, "actor")?,
        subject: opt_text(row, "subject")?.map(UserId::from_raw),
        kind: text(row, "kind")?,
        outcome: text(row, "outcome")?,
        detail: from_json(&text(row, "detail")?, "event detail")?,
    })
}

/// Reads `count, window_ends_at`.
pub(super) fn counter(row: &Row<'_>) -> Result<crate::ports::Counter, StoreError> {
    Ok(crate::ports::Counter {
        count: row.get("count").map_err(db_err)?,
        window_ends_at: time(row, "window_ends_at")?,
    })
}

/// Reads a user's `device_id, device_last_step, totp_failures, totp_locked_until`: the state
/// that the commits and the failure counter test.
pub(super) fn guard(row: &Row<'_>) -> Result<UserGuard, StoreError> {
    Ok(UserGuard {
        device_id: opt_text(row, "device_id")?,
        last_step: row.get("device_last_step").map_err(db_err)?,
        totp_failures: row.get("totp_failures").map_err(db_err)?,
        totp_locked_until: opt_time(row, "totp_locked_until")?,
        device_reset_at: opt_time(row, "device_reset_at")?,
    })
}

/// The part of a user row that conditions test.
pub(super) struct UserGuard {
    pub(super) device_id: Option<String>,
    pub(super) last_step: Option<u64>,
    pub(super) totp_failures: u32,
    pub(super) totp_locked_until: Option<DateTime<Utc>>,
    pub(super) device_reset_at: Option<DateTime<Utc>>,
}

/// The SQL that [`guard`] reads with, by user id.
pub(super) const GUARD_SQL: &str = "SELECT device_id, device_last_step, totp_failures, \
    totp_locked_until, device_reset_at FROM users WHERE id = ?1";
