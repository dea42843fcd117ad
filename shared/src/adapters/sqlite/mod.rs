//! The embedded Store: one SQLite file, each operation one transaction.
//!
//! One [`SqliteStore`] holds one connection behind a mutex and runs every operation on the
//! blocking thread pool. Atomicity does not rest on that mutex: every read-modify-write runs in
//! a `BEGIN IMMEDIATE` transaction, which takes the database's write lock before its first
//! read, so the operations stay atomic against a second connection on the same file (the ops
//! CLI writing while the local server runs). The file is in WAL mode, so readers never wait for
//! a writer, and a writer waits up to five seconds for another before giving up.
//!
//! Storage conventions, shared by every table:
//! - Times are UTC RFC 3339 text with exactly nine fractional digits
//!   (`2026-12-03T12:00:00.000000000Z`), so text order is time order and values round-trip
//!   exactly. Years outside 0000–9999 are refused.
//! - An item with an expiry (challenge, session, counter window) is live while
//!   `now < expires_at`; at `expires_at` itself it is gone.
//! - Nested values (a policy, a challenge's body, an event's detail) are JSON text; the fields
//!   that conditions test (versions, device id, last step, failures, expiries) are columns.
//! - Referential integrity is enforced: a challenge or session for an unknown user, or a user
//!   or device group of an unknown account, is refused with [`StoreError::NotFound`].
//! - A policy's version is also the `policy_version` column, written in the same statement as
//!   the policy's JSON; `update_policy` tests the column.

mod commits;
mod directory;
mod rows;
mod schema;
mod store_impl;
mod tokens;

use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use chrono::{DateTime, Utc};
use rusqlite::{Connection, Transaction, TransactionBehavior};

use crate::ports::StoreError;

/// How long a writer waits for another connection's write lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// A [`Store`](crate::ports::Store) on an embedded SQLite database.
#[derive(Clone)]
pub struct SqliteStore {
    conn: Arc<Mutex<Connection>>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SqliteStore")
    }
}

impl SqliteStore {
    /// Opens (creating if missing) the database file at `path` and brings its schema up to
    /// date. WAL mode, foreign keys on, five-second busy timeout.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] if the file cannot be opened or its schema is newer than
    /// this build knows.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let conn = Connection::open(path).map_err(db_err)?;
        let mode: String = conn
            .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))
            .map_err(db_err)?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Unavailable(format!(
                "journal mode stayed {mode}, not WAL"
            )));
        }
        Self::prepare(conn)
    }

    /// A private in-memory database, for tests.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] if SQLite cannot start.
    pub fn open_in_memory() -> Result<Self, StoreError> {
        Self::prepare(Connection::open_in_memory().map_err(db_err)?)
    }

    fn prepare(mut conn: Connection) -> Result<Self, StoreError> {
        conn.busy_timeout(BUSY_TIMEOUT).map_err(db_err)?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(db_err)?;
        schema::migrate(&mut conn)?;
        Ok(Self {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    /// Deletes challenges, sessions and counters that expired before `now`; returns how many
    /// rows went. Reads already treat them as gone; this only reclaims space.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    pub async fn purge_expired(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        self.run("purge_expired", move |conn| {
            tokens::purge_expired(conn, now)
        })
        .await
    }

    /// Runs `op` on the connection, on the blocking pool, and logs its outcome.
    async fn run<T, F>(&self, name: &'static str, op: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let conn = Arc::clone(&self.conn);
        let joined = tokio::task::spawn_blocking(move || op(&mut lock(&conn))).await;
        let result = joined
            .unwrap_or_else(|e| Err(StoreError::Unavailable(format!("store task failed: {e}"))));
        match &result {
            Ok(_) => tracing::debug!(op = name, outcome = "ok", "sqlite store"),
            Err(StoreError::Unavailable(detail)) => {
                tracing::debug!(op = name, outcome = "unavailable", %detail, "sqlite store");
            }
            Err(e) => tracing::debug!(op = name, outcome = outcome(e), "sqlite store"),
        }
        result
    }
}

/// The connection, even if a previous holder panicked: every write is a transaction that rolls
/// back when dropped, so a poisoned lock cannot hide a half-done write.
fn lock(conn: &Mutex<Connection>) -> MutexGuard<'_, Connection> {
    match conn.lock() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    }
}

fn outcome(e: &StoreError) -> &'static str {
    e.outcome()
}

/// Starts a transaction that holds the write lock from its first statement.
fn write_tx(conn: &mut Connection) -> Result<Transaction<'_>, StoreError> {
    conn.transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(db_err)
}

/// A backend failure. SQLite's messages name tables and columns, never bound values.
fn db_err(e: rusqlite::Error) -> StoreError {
    StoreError::Unavailable(format!("sqlite: {e}"))
}

/// An insert's failure: a taken key is `Conflict(taken)`, a missing parent row `NotFound`.
fn insert_err(e: rusqlite::Error, taken: &'static str) -> StoreError {
    use rusqlite::ffi;
    match e.sqlite_error().map(|f| f.extended_code) {
        Some(ffi::SQLITE_CONSTRAINT_PRIMARYKEY | ffi::SQLITE_CONSTRAINT_UNIQUE) => {
            StoreError::Conflict(taken)
        }
        Some(ffi::SQLITE_CONSTRAINT_FOREIGNKEY) => StoreError::NotFound,
        _ => db_err(e),
    }
}

#[cfg(test)]
mod tests;
