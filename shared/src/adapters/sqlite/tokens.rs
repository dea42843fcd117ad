//! Challenges, sessions and counters: the rows that expire.
//!
//! Expired rows stay in the file until [`purge_expired`] runs; every read here filters them out
//! with `now < expires_at`, so they are gone to callers either way.

use chrono::{DateTime, Duration, Utc};
use rusqlite::{Connection, params};

use super::rows::{self, SESSION_COLUMNS, later, opt_ts, query_all, query_opt, to_json, ts};
use super::{db_err, insert_err, write_tx};
use crate::domain::ids::{AccountId, UserId};
use crate::domain::model::{Challenge, Session};
use crate::domain::token::TokenHash;
use crate::ports::{Counter, StoreError};

pub(super) fn put_challenge(conn: &Connection, challenge: &Challenge) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO challenges (token_hash, user_id, account_id, version, expires_at, body) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            challenge.token_hash.as_str(),
            challenge.user_id.as_str(),
            challenge.account_id.as_str(),
            challenge.version,
            ts(challenge.expires_at)?,
            to_json(challenge, "challenge")?,
        ],
    )
    .map_err(|e| insert_err(e, "challenge exists"))?;
    Ok(())
}

pub(super) fn get_challenge(
    conn: &Connection,
    hash: &TokenHash,
    now: DateTime<Utc>,
) -> Result<Option<Challenge>, StoreError> {
    query_opt(
        conn,
        "SELECT body FROM challenges WHERE token_hash = ?1 AND expires_at > ?2",
        params![hash.as_str(), ts(now)?],
        rows::challenge,
    )
}

pub(super) fn update_challenge(
    conn: &Connection,
    expected_version: u64,
    next: &Challenge,
) -> Result<(), StoreError> {
    if expected_version.checked_add(1) != Some(next.version) {
        return Err(StoreError::Conflict(
            "challenge version must advance by one",
        ));
    }

    // One statement, conditional on the version: atomic without an explicit transaction. The
    // owner is part of the condition so that a write can never move a challenge to another user.
    let changed = conn
        .execute(
            "UPDATE challenges SET version = ?3, expires_at = ?4, body = ?5 \
             WHERE token_hash = ?1 AND version = ?2 AND user_id = ?6",
            params![
                next.token_hash.as_str(),
                expected_version,
                next.version,
                ts(next.expires_at)?,
                to_json(next, "challenge")?,
                next.user_id.as_str(),
            ],
        )
        .map_err(db_err)?;
    if changed == 0 {
        return Err(StoreError::Conflict("challenge changed or gone"));
    }
    Ok(())
}

pub(super) fn delete_challenge(conn: &Connection, hash: &TokenHash) -> Result<(), StoreError> {
    conn.execute(
        "DELETE FROM challenges WHERE token_hash = ?1",
        [hash.as_str()],
    )
    .map_err(db_err)?;
    Ok(())
}

/// Inserts `session`; used on its own and inside the commits.
pub(super) fn insert_session(conn: &Connection, session: &Session) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO sessions (token_hash, user_id, account_id, created_at, expires_at, \
         second_step_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            session.token_hash.as_str(),
            session.user_id.as_str(),
            session.account_id.as_str(),
            ts(session.created_at)?,
            ts(session.expires_at)?,
            opt_ts(session.second_step_at)?,
        ],
    )
    .map_err(|e| insert_err(e, "session exists"))?;
    Ok(())
}

pub(super) fn get_session(
    conn: &Connection,
    hash: &TokenHash,
    now: DateTime<Utc>,
) -> Result<Option<Session>, StoreError> {
    let sql =
        format!("SELECT {SESSION_COLUMNS} FROM sessions WHERE token_hash = ?1 AND expires_at > ?2");
    query_opt(conn, &sql, params![hash.as_str(), ts(now)?], rows::session)
}

pub(super) fn delete_session(conn: &Connection, hash: &TokenHash) -> Result<(), StoreError> {
    conn.execute(
        "DELETE FROM sessions WHERE token_hash = ?1",
        [hash.as_str()],
    )
    .map_err(db_err)?;
    Ok(())
}

pub(super) fn delete_user_sessions(conn: &Connection, user: &UserId) -> Result<u32, StoreError> {
    let gone = conn
        .execute("DELETE FROM sessions WHERE user_id = ?1", [user.as_str()])
        .map_err(db_err)?;
    Ok(u32::try_from(gone).unwrap_or(u32::MAX))
}

pub(super) fn list_account_sessions(
    conn: &Connection,
    account: &AccountId,
    now: DateTime<Utc>,
) -> Result<Vec<Session>, StoreError> {
    let sql = format!(
        "SELECT {SESSION_COLUMNS} FROM sessions WHERE account_id = ?1 AND expires_at > ?2 \
         ORDER BY created_at, token_hash"
    );
    query_all(
        conn,
        &sql,
        params![account.as_str(), ts(now)?],
        rows::session,
    )
}

pub(super) fn hit_counter(
    conn: &mut Connection,
    key: &str,
    now: DateTime<Utc>,
    window: Duration,
) -> Result<Counter, StoreError> {
    let tx = write_tx(conn)?;
    let current = query_opt(
        &tx,
        "SELECT count, window_ends_at FROM counters WHERE key = ?1",
        [key],
        rows::counter,
    )?;

    let next = match current {
        Some(c) if now < c.window_ends_at => Counter {
            count: c.count.saturating_add(1),
            window_ends_at: c.window_ends_at,
        },
        _ => Counter {
            count: 1,
            window_ends_at: later(now, window)?,
        },
    };
    tx.execute(
        "INSERT INTO counters (key, count, window_ends_at) VALUES (?1, ?2, ?3) \
         ON CONFLICT (key) DO UPDATE SET count = excluded.count, \
         window_ends_at = excluded.window_ends_at",
        params![key, next.count, ts(next.window_ends_at)?],
    )
    .map_err(db_err)?;
    tx.commit().map_err(db_err)?;
    Ok(next)
}

pub(super) fn get_counter(
    conn: &Connection,
    key: &str,
    now: DateTime<Utc>,
) -> Result<Option<Counter>, StoreError> {
    query_opt(
        conn,
        "SELECT count, window_ends_at FROM counters WHERE key = ?1 AND window_ends_at > ?2",
        params![key, ts(now)?],
        rows::counter,
    )
}

pub(super) fn clear_counter(conn: &Connection, key: &str) -> Result<(), StoreError> {
    conn.execute("DELETE FROM counters WHERE key = ?1", [key])
        .map_err(db_err)?;
    Ok(())
}

/// Deletes what reads already treat as gone; returns the number of rows.
pub(super) fn purge_expired(conn: &mut Connection, now: DateTime<Utc>) -> Result<u64, StoreError> {
    let now = ts(now)?;
    let tx = write_tx(conn)?;
    let mut gone = 0usize;
    for sql in [
        "DELETE FROM challenges WHERE expires_at <= ?1",
        "DELETE FROM sessions WHERE expires_at <= ?1",
        "DELETE FROM counters WHERE window_ends_at <= ?1",
    ] {
        gone = gone.saturating_add(tx.execute(sql, [&now]).map_err(db_err)?);
    }
    tx.commit().map_err(db_err)?;
    Ok(u64::try_from(gone).unwrap_or(u64::MAX))
}
