//! Audit events: recorded best-effort beside each security-relevant change.

use serde_json::Value;
use tracing::warn;

use crate::domain::ids::{AccountId, EventId, UserId};
use crate::domain::model::AuditEvent;
use crate::flow::App;

/// Records one event for `account`. A store failure is logged, not returned: the change it
/// describes has already happened.
pub async fn record(
    app: &App,
    account: &AccountId,
    actor: &str,
    subject: Option<&UserId>,
    kind: &str,
    outcome: &str,
    detail: Value,
) {
    let event = AuditEvent {
        id: EventId::generate(app.rng.as_ref()),
        account_id: account.clone(),
        at: app.clock.now(),
        actor: actor.to_owned(),
        subject: subject.cloned(),
        kind: kind.to_owned(),
        outcome: outcome.to_owned(),
        detail,
    };
    if let Err(err) = app.store.append_event(&event).await {
        warn!(account_id = %account, kind, error = %err, "audit event not recorded");
    }
}
