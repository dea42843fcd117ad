//! The enforce-logout job: at each account's forced-logout date, delete the sessions that never
//! passed the second step and record it; before the date, remind users who are not enrolled.
//!
//! Each action is claimed with a compare-and-swap on the account's policy before anything is
//! deleted or sent, so runs are idempotent and two concurrent runs act once per account: the
//! loser's swap fails and it moves on. Sessions are refused on use from the date on whether or
//! not the job has run (see `authenticate`), so a late or failed run never leaves a window.

use chrono::{DateTime, Duration, Utc};
use serde_json::json;
use tracing::{info, instrument, warn};

use crate::domain::model::{Account, Policy};
use crate::flow::{App, FlowError, mail, record_event};
use crate::ports::StoreError;

/// What one run did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct JobReport {
    /// Accounts whose forced logout this run carried out.
    pub accounts_enforced: u32,
    /// Sessions it deleted.
    pub sessions_ended: u32,
    /// Reminder emails it sent.
    pub reminders_sent: u32,
}

/// Runs the job once over every account.
///
/// # Errors
/// A store fault while listing accounts; faults on one account are logged and skipped.
#[instrument(skip_all)]
pub async fn enforce_logout(app: &App) -> Result<JobReport, FlowError> {
    let mut report = JobReport::default();
    for account in app.store.list_accounts().await? {
        let outcome = match due(&account.policy, app.clock.now()) {
            Due::Logout(at) => logout(app, &account, at, &mut report).await,
            Due::Reminder(which) => remind(app, &account, which, &mut report).await,
            Due::Nothing => Ok(()),
        };
        if let Err(err) = outcome {
            warn!(account_id = %account.id, error = %err, "enforce-logout skipped an account");
        }
    }
    info!(
        accounts_enforced = report.accounts_enforced,
        sessions_ended = report.sessions_ended,
        reminders_sent = report.reminders_sent,
        "enforce-logout run finished"
    );
    Ok(report)
}

#[derive(Debug, Clone, Copy)]
enum Reminder {
    ThreeDays,
    OneDay,
}

enum Due {
    Logout(DateTime<Utc>),
    Reminder(Reminder),
    Nothing,
}

fn due(policy: &Policy, now: DateTime<Utc>) -> Due {
    let Some(at) = policy.forced_logout_at.filter(|_| policy.enabled) else {
        return Due::Nothing;
    };
    if now >= at {
        return if policy.forced_logout_done_at.is_none() {
            Due::Logout(at)
        } else {
            Due::Nothing
        };
    }
    let left = at.signed_duration_since(now);
    if left <= Duration::days(1) && policy.reminder_1d_sent_at.is_none() {
        Due::Reminder(Reminder::OneDay)
    } else if left <= Duration::days(3)
        && policy.reminder_3d_sent_at.is_none()
        && policy.reminder_1d_sent_at.is_none()
    {
        Due::Reminder(Reminder::ThreeDays)
    } else {
        Due::Nothing
    }
}

/// Writes `next` over the account's policy if nobody changed it; `false` if another run or an
/// admin did.
async fn claim(app: &App, account: &Account, mut next: Policy) -> Result<bool, FlowError> {
    next.version = account
        .policy
        .version
        .checked_add(1)
        .ok_or(FlowError::Conflict)?;
    match app
        .store
        .update_policy(&account.id, account.policy.version, &next)
        .await
    {
        Ok(()) => Ok(true),
        Err(StoreError::Conflict(_)) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

async fn logout(
    app: &App,
    account: &Account,
    at: DateTime<Utc>,
    report: &mut JobReport,
) -> Result<(), FlowError> {
    let now = app.clock.now();
    let sessions = app.store.list_account_sessions(&account.id, now).await?;
    let doomed: Vec<_> = sessions
        .into_iter()
        .filter(|s| s.second_step_at.is_none())
        .collect();
    let count = u32::try_from(doomed.len()).unwrap_or(u32::MAX);
    let mut next = account.policy.clone();
    next.forced_logout_done_at = Some(now);
    next.forced_logout_sessions_ended = count;
    if !claim(app, account, next).await? {
        return Ok(());
    }
    for session in &doomed {
        app.store.delete_session(&session.token_hash).await?;
    }
    let detail = json!({ "forced_logout_at": at, "sessions_ended": count });
    record_event(
        app,
        &account.id,
        "system",
        None,
        "forced_logout",
        "ok",
        detail,
    )
    .await;
    report.accounts_enforced = report.accounts_enforced.saturating_add(1);
    report.sessions_ended = report.sessions_ended.saturating_add(count);
    info!(account_id = %account.id, sessions_ended = count, "forced logout carried out");
    Ok(())
}

async fn remind(
    app: &App,
    account: &Account,
    which: Reminder,
    report: &mut JobReport,
) -> Result<(), FlowError> {
    let Some(at) = account.policy.forced_logout_at else {
        return Ok(());
    };
    let now = app.clock.now();
    let mut next = account.policy.clone();
    match which {
        Reminder::ThreeDays => next.reminder_3d_sent_at = Some(now),
        Reminder::OneDay => next.reminder_1d_sent_at = Some(now),
    }
    if !claim(app, account, next).await? {
        return Ok(());
    }
    // Limitation: the reminder is claimed before it is mailed (so concurrent runs send it once),
    // and a message that SES refuses is not retried by a later run; the event's outcome is
    // then `partial` with the count of failed messages, for the admin to see.
    let users = app.store.list_users(&account.id).await?;
    let mut sent = 0u32;
    let mut failed = 0u32;
    for user in users.iter().filter(|u| u.device.is_none()) {
        match app
            .mailer
            .send(&mail::enrollment_reminder(
                &user.email,
                at,
                &app.config.issuer,
            ))
            .await
        {
            Ok(()) => sent = sent.saturating_add(1),
            Err(err) => {
                failed = failed.saturating_add(1);
                warn!(user_id = %user.id, error = %err, "reminder not sent");
            }
        }
    }
    let kind = match which {
        Reminder::ThreeDays => "enrollment_reminder_3d",
        Reminder::OneDay => "enrollment_reminder_1d",
    };
    record_event(
        app,
        &account.id,
        "system",
        None,
        kind,
        if failed == 0 { "ok" } else { "partial" },
        json!({ "sent": sent, "failed": failed }),
    )
    .await;
    report.reminders_sent = report.reminders_sent.saturating_add(sent);
    Ok(())
}
