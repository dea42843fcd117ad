//! The multi-row writes: finishing a login or an enrollment, counting TOTP failures, removing
//! a device. Each reads its conditions and writes inside one `BEGIN IMMEDIATE` transaction, so
//! no other connection can change the rows between the check and the write; any failed check
//! returns early and the dropped transaction rolls back.

use chrono::{DateTime, Duration, Utc};
use rusqlite::{Connection, Transaction, params};

use super::rows::{self, GUARD_SQL, UserGuard, later, opt_ts, query_opt, ts};
use super::tokens::insert_session;
use super::{db_err, write_tx};
use crate::domain::ids::{DeviceId, UserId};
use crate::domain::token::TokenHash;
use crate::ports::{EnrollmentCommit, LoginCommit, StoreError, TotpFailures};

pub(super) fn record_totp_failure(
    conn: &mut Connection,
    user: &UserId,
    now: DateTime<Utc>,
    lock_after: u32,
    lock_for: Duration,
) -> Result<TotpFailures, StoreError> {
    let tx = write_tx(conn)?;
    let current = read_guard(&tx, user)?;
    if let Some(until) = current.totp_locked_until.filter(|until| *until > now) {
        return Err(StoreError::Locked(until));
    }

    let failures = current.totp_failures.saturating_add(1);
    let locked_until = if failures >= lock_after {
        Some(later(now, lock_for)?)
    } else {
        None
    };
    tx.execute(
        "UPDATE users SET totp_failures = ?2, totp_locked_until = ?3 WHERE id = ?1",
        params![user.as_str(), failures, opt_ts(locked_until)?],
    )
    .map_err(db_err)?;
    tx.commit().map_err(db_err)?;
    Ok(TotpFailures {
        failures,
        locked_until,
    })
}

/// One statement, so atomic: the count falls by one (not below zero) and the lock goes only
/// if it is still the very one the try set (stored in the same text form).
pub(super) fn give_back_totp_try(
    conn: &Connection,
    user: &UserId,
    granted: TotpFailures,
) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE users SET totp_failures = MAX(totp_failures - 1, 0), \
         totp_locked_until = CASE WHEN totp_locked_until = ?2 THEN NULL \
         ELSE totp_locked_until END WHERE id = ?1",
        params![user.as_str(), opt_ts(granted.locked_until)?],
    )
    .map_err(db_err)?;
    Ok(())
}

pub(super) fn remove_device(
    conn: &mut Connection,
    user: &UserId,
    device: &DeviceId,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let tx = write_tx(conn)?;
    let current = read_guard(&tx, user)?;
    if current.device_id.as_deref() != Some(device.as_str()) {
        return Err(StoreError::Conflict("the device changed"));
    }
    tx.execute(
        "UPDATE users SET device_id = NULL, device_secret = NULL, device_enrolled_at = NULL, \
         device_last_step = NULL, totp_failures = 0, totp_locked_until = NULL, \
         device_reset_at = ?2 WHERE id = ?1",
        params![user.as_str(), ts(now)?],
    )
    .map_err(db_err)?;
    tx.commit().map_err(db_err)
}

/// Checks, in order: the device is still the user's (`Conflict`), the step is above its last
/// one (`StepReplayed`), the challenge is still at its version and the user's (`Conflict`).
pub(super) fn commit_login(conn: &mut Connection, commit: &LoginCommit) -> Result<(), StoreError> {
    let tx = write_tx(conn)?;
    let current = read_guard(&tx, &commit.user_id)?;

    if current.device_id.as_deref() != Some(commit.device_id.as_str()) {
        return Err(StoreError::Conflict("device changed"));
    }
    let last_step = current
        .last_step
        .ok_or_else(|| StoreError::Unavailable("device without last step".to_owned()))?;
    if commit.step <= last_step {
        return Err(StoreError::StepReplayed);
    }
    check_challenge(
        &tx,
        &commit.challenge,
        commit.challenge_version,
        &commit.user_id,
    )?;

    tx.execute(
        "UPDATE users SET device_last_step = ?2, totp_failures = 0, totp_locked_until = NULL \
         WHERE id = ?1",
        params![commit.user_id.as_str(), commit.step],
    )
    .map_err(db_err)?;
    finish(tx, &commit.challenge, &commit.session)
}

/// Checks the user's device is still `replaces` and the challenge still at its version and the
/// user's (`Conflict` for either).
pub(super) fn commit_enrollment(
    conn: &mut Connection,
    commit: &EnrollmentCommit,
) -> Result<(), StoreError> {
    let tx = write_tx(conn)?;
    let current = read_guard(&tx, &commit.user_id)?;

    if current.device_id.as_deref() != commit.replaces.as_ref().map(|d| d.as_str()) {
        return Err(StoreError::Conflict("device changed"));
    }
    if current
        .device_reset_at
        .is_some_and(|reset| commit.begun_at <= reset)
    {
        return Err(StoreError::Conflict(
            "device reset since the challenge began",
        ));
    }
    check_challenge(
        &tx,
        &commit.challenge,
        commit.challenge_version,
        &commit.user_id,
    )?;

    let device = &commit.device;
    tx.execute(
        "UPDATE users SET device_id = ?2, device_secret = ?3, device_enrolled_at = ?4, \
         device_last_step = ?5, totp_failures = 0, totp_locked_until = NULL WHERE id = ?1",
        params![
            commit.user_id.as_str(),
            device.id.as_str(),
            device.sealed_secret.0.as_str(),
            ts(device.enrolled_at)?,
            device.last_step,
        ],
    )
    .map_err(db_err)?;

    // Before the insert, so the new session is the one that survives.
    if commit.revoke_other_sessions {
        tx.execute(
            "DELETE FROM sessions WHERE user_id = ?1",
            [commit.user_id.as_str()],
        )
        .map_err(db_err)?;
    }
    finish(tx, &commit.challenge, &commit.session)
}

/// The user's guarded state; `NotFound` if there is no such user.
fn read_guard(tx: &Transaction<'_>, user: &UserId) -> Result<UserGuard, StoreError> {
    query_opt(tx, GUARD_SQL, [user.as_str()], rows::guard)?.ok_or(StoreError::NotFound)
}

fn check_challenge(
    tx: &Transaction<'_>,
    hash: &TokenHash,
    version: u64,
    user: &UserId,
) -> Result<(), StoreError> {
    let found = query_opt(
        tx,
        "SELECT version, user_id FROM challenges WHERE token_hash = ?1",
        [hash.as_str()],
        |row| {
            let version: u64 = row.get("version").map_err(db_err)?;
            let owner: String = row.get("user_id").map_err(db_err)?;
            Ok((version, owner))
        },
    )?;
    match found {
        None => Err(StoreError::Conflict("challenge gone")),
        Some((v, _)) if v != version => Err(StoreError::Conflict("challenge changed")),
        Some((_, owner)) if owner != user.as_str() => {
            Err(StoreError::Conflict("challenge belongs to another user"))
        }
        Some(_) => Ok(()),
    }
}

/// Ends the challenge, stores the session and commits.
fn finish(
    tx: Transaction<'_>,
    challenge: &TokenHash,
    session: &crate::domain::model::Session,
) -> Result<(), StoreError> {
    tx.execute(
        "DELETE FROM challenges WHERE token_hash = ?1",
        [challenge.as_str()],
    )
    .map_err(db_err)?;
    insert_session(&tx, session)?;
    tx.commit().map_err(db_err)
}
