//! The SQLite schema and its version, created on first open and migrated step by step.
//!
//! A new file runs every step from version 0; an older file runs the steps above its version.
//! Each step runs in the same `BEGIN IMMEDIATE` transaction as the version bump, so a file is
//! always at exactly one version.

use rusqlite::Connection;

use super::{db_err, write_tx};
use crate::ports::StoreError;

/// The schema version this build writes, kept in `PRAGMA user_version`.
pub(super) const VERSION: i32 = 3;

/// Version 1. Times are fixed-width RFC 3339 text (see the module above), so comparisons and
/// `ORDER BY` on them are time order.
pub(super) const V1: &str = "
CREATE TABLE IF NOT EXISTS accounts (
    id          TEXT PRIMARY KEY NOT NULL,
    name        TEXT NOT NULL,
    policy      TEXT NOT NULL,          -- Policy as JSON
    created_at  TEXT NOT NULL
) STRICT;

CREATE TABLE IF NOT EXISTS users (
    id                  TEXT PRIMARY KEY NOT NULL,
    account_id          TEXT NOT NULL REFERENCES accounts (id),
    email               TEXT NOT NULL UNIQUE,   -- normalised
    role                TEXT NOT NULL,
    device_group        TEXT NOT NULL,
    password_hash       TEXT NOT NULL,
    device_id           TEXT,
    device_secret       TEXT,                   -- sealed
    device_enrolled_at  TEXT,
    device_last_step    INTEGER,
    totp_failures       INTEGER NOT NULL DEFAULT 0,
    totp_locked_until   TEXT,
    created_at          TEXT NOT NULL,
    CHECK ((device_id IS NULL) = (device_secret IS NULL)
       AND (device_id IS NULL) = (device_enrolled_at IS NULL)
       AND (device_id IS NULL) = (device_last_step IS NULL)),
    CHECK (device_last_step IS NULL OR device_last_step >= 0),
    CHECK (totp_failures >= 0)
) STRICT;
CREATE INDEX IF NOT EXISTS users_by_account ON users (account_id, created_at, id);

CREATE TABLE IF NOT EXISTS challenges (
    token_hash  TEXT PRIMARY KEY NOT NULL,
    user_id     TEXT NOT NULL REFERENCES users (id),
    account_id  TEXT NOT NULL,
    version     INTEGER NOT NULL,
    expires_at  TEXT NOT NULL,
    body        TEXT NOT NULL               -- the whole Challenge as JSON
) STRICT;
CREATE INDEX IF NOT EXISTS challenges_by_expiry ON challenges (expires_at);

CREATE TABLE IF NOT EXISTS sessions (
    token_hash      TEXT PRIMARY KEY NOT NULL,
    user_id         TEXT NOT NULL REFERENCES users (id),
    account_id      TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    expires_at      TEXT NOT NULL,
    second_step_at  TEXT
) STRICT;
CREATE INDEX IF NOT EXISTS sessions_by_user ON sessions (user_id);
CREATE INDEX IF NOT EXISTS sessions_by_account ON sessions (account_id, expires_at);
CREATE INDEX IF NOT EXISTS sessions_by_expiry ON sessions (expires_at);

CREATE TABLE IF NOT EXISTS counters (
    key             TEXT PRIMARY KEY NOT NULL,
    count           INTEGER NOT NULL CHECK (count >= 0),
    window_ends_at  TEXT NOT NULL
) STRICT;

-- No foreign key: the audit trail must never refuse a line.
CREATE TABLE IF NOT EXISTS events (
    id          TEXT PRIMARY KEY NOT NULL,
    account_id  TEXT NOT NULL,
    at          TEXT NOT NULL,
    actor       TEXT NOT NULL,
    subject     TEXT,
    kind        TEXT NOT NULL,
    outcome     TEXT NOT NULL,
    detail      TEXT NOT NULL               -- JSON
) STRICT;
CREATE INDEX IF NOT EXISTS events_by_account ON events (account_id, at, id);
";

/// Version 2: the policy's version becomes a column (the compare-and-swap tests it), taken from
/// the stored JSON where it is there (a version-1 file never wrote it, so 0); and device groups.
const V2: &str = "
ALTER TABLE accounts ADD COLUMN policy_version INTEGER NOT NULL DEFAULT 0
    CHECK (policy_version >= 0);
UPDATE accounts SET policy_version = coalesce(json_extract(policy, '$.version'), 0);

CREATE TABLE IF NOT EXISTS device_groups (
    account_id      TEXT NOT NULL REFERENCES accounts (id),
    name            TEXT NOT NULL,
    client_major    INTEGER NOT NULL CHECK (client_major >= 0),
    client_minor    INTEGER NOT NULL CHECK (client_minor >= 0),
    client_build    INTEGER NOT NULL CHECK (client_build >= 0),
    updated_at      TEXT NOT NULL,
    PRIMARY KEY (account_id, name)
) STRICT, WITHOUT ROWID;
";

/// Version 3: when an admin last reset the user's device (enrollments begun before are refused).
const V3: &str = "
ALTER TABLE users ADD COLUMN device_reset_at TEXT;
";

/// The step that brings a file from version `n - 1` to `n` is `STEPS[n - 1]`; one per version.
const STEPS: [&str; VERSION as usize] = [V1, V2, V3];

/// Creates the schema if the file is new, migrates an older one; refuses a file written by a
/// newer build.
///
/// # Errors
/// [`StoreError::Unavailable`] on failure or on a newer schema.
pub(super) fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    // Immediate, so two processes opening a new file at once cannot both create it.
    let tx = write_tx(conn)?;
    let found: i32 = tx
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .map_err(db_err)?;
    if found > VERSION {
        return Err(StoreError::Unavailable(format!(
            "database schema version {found} is newer than this build's {VERSION}"
        )));
    }
    if found < 0 {
        return Err(StoreError::Unavailable(format!(
            "database schema version {found} is not one this build knows"
        )));
    }
    for step in STEPS.iter().skip(usize::try_from(found).unwrap_or(0)) {
        tx.execute_batch(step).map_err(db_err)?;
    }
    if found < VERSION {
        tx.pragma_update(None, "user_version", VERSION)
            .map_err(db_err)?;
    }
    tx.commit().map_err(db_err)
}
