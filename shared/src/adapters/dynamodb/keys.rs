//! The table's key and index attribute names, every item's key, and the time encodings that
//! keys and conditions compare.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Datelike, Duration, SecondsFormat, Utc};

use crate::domain::email::Email;
use crate::domain::ids::{AccountId, UserId};
use crate::domain::token::TokenHash;
use crate::ports::StoreError;

/// Partition key attribute.
pub(super) const PK: &str = "pk";
/// Sort key attribute.
pub(super) const SK: &str = "sk";
/// The first global secondary index and its key attributes.
pub(super) const GSI1: &str = "gsi1";
pub(super) const GSI1_PK: &str = "gsi1pk";
pub(super) const GSI1_SK: &str = "gsi1sk";
/// The second global secondary index and its key attributes.
pub(super) const GSI2: &str = "gsi2";
pub(super) const GSI2_PK: &str = "gsi2pk";
pub(super) const GSI2_SK: &str = "gsi2sk";
/// The TTL attribute: epoch seconds.
pub(super) const TTL: &str = "ttl";

/// `gsi1pk` of every account.
pub(super) const ACCOUNTS: &str = "ACCOUNTS";
/// Sort key prefix of device groups.
pub(super) const GROUP_PREFIX: &str = "GROUP#";
/// Sort key prefix of audit events.
pub(super) const EVENT_PREFIX: &str = "EVENT#";

/// An item's primary key.
pub(super) struct Key {
    pub(super) pk: String,
    pub(super) sk: String,
}

impl Key {
    fn new(pk: String, sk: &str) -> Self {
        Self {
            pk,
            sk: sk.to_owned(),
        }
    }

    /// The key as request attributes.
    pub(super) fn attrs(&self) -> HashMap<String, AttributeValue> {
        HashMap::from([
            (PK.to_owned(), AttributeValue::S(self.pk.clone())),
            (SK.to_owned(), AttributeValue::S(self.sk.clone())),
        ])
    }
}

pub(super) fn account(id: &AccountId) -> Key {
    Key::new(account_pk(id), "ACCOUNT")
}

/// The partition of an account and its device groups.
pub(super) fn account_pk(id: &AccountId) -> String {
    format!("ACCOUNT#{id}")
}

pub(super) fn group(account: &AccountId, name: &str) -> Key {
    Key {
        pk: account_pk(account),
        sk: format!("{GROUP_PREFIX}{name}"),
    }
}

pub(super) fn user(id: &UserId) -> Key {
    Key::new(format!("USER#{id}"), "USER")
}

pub(super) fn email(email: &Email) -> Key {
    Key::new(format!("EMAIL#{email}"), "EMAIL")
}

pub(super) fn challenge(hash: &TokenHash) -> Key {
    Key::new(format!("CHALLENGE#{}", hash.as_str()), "CHALLENGE")
}

pub(super) fn session(hash: &TokenHash) -> Key {
    Key::new(format!("SESSION#{}", hash.as_str()), "SESSION")
}

pub(super) fn counter(key: &str) -> Key {
    Key::new(format!("COUNTER#{key}"), "COUNTER")
}

/// The partition of an account's audit events.
pub(super) fn events_pk(account: &AccountId) -> String {
    format!("ACCOUNT#{account}#EVENTS")
}

/// An event's sort key: time first, so that key order is `(at, id)` order.
pub(super) fn event_sk(at: DateTime<Utc>, id: &str) -> Result<String, StoreError> {
    Ok(format!("{EVENT_PREFIX}{}#{id}", ts(at)?))
}

/// `gsi1pk` of an account's users.
pub(super) fn account_users(account: &AccountId) -> String {
    format!("ACCOUNT#{account}#USERS")
}

/// `gsi1pk` of a user's sessions.
pub(super) fn user_sessions(user: &UserId) -> String {
    format!("USER#{user}#SESSIONS")
}

/// `gsi2pk` of an account's sessions.
pub(super) fn account_sessions(account: &AccountId) -> String {
    format!("ACCOUNT#{account}#SESSIONS")
}

/// An index sort key that orders by creation time, then by `id`.
pub(super) fn created(at: DateTime<Utc>, id: &str) -> Result<String, StoreError> {
    Ok(format!("{}#{id}", ts(at)?))
}

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

/// Parses a stored time; the value stays out of the message.
pub(super) fn parse_ts(text: &str, attribute: &str) -> Result<DateTime<Utc>, StoreError> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| StoreError::Unavailable(format!("corrupt time in attribute {attribute}")))
}

/// The `ttl` of an item that expires at `t`: epoch seconds, rounded up.
pub(super) fn ttl(t: DateTime<Utc>) -> i64 {
    let secs = t.timestamp();
    if t.timestamp_subsec_nanos() > 0 {
        secs.saturating_add(1)
    } else {
        secs
    }
}

/// `now + by`, refusing an overflow instead of panicking.
pub(super) fn later(now: DateTime<Utc>, by: Duration) -> Result<DateTime<Utc>, StoreError> {
    now.checked_add_signed(by)
        .ok_or_else(|| StoreError::Unavailable("time out of range".to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_sort_as_text_and_ttl_rounds_up() {
        let a: DateTime<Utc> = "2026-12-03T12:00:00Z".parse().unwrap_or_default();
        let b = a + Duration::nanoseconds(1);
        assert_eq!(
            ts(a).ok().as_deref(),
            Some("2026-12-03T12:00:00.000000000Z")
        );
        assert!(ts(a).ok() < ts(b).ok());
        assert_eq!(ttl(a), a.timestamp());
        assert_eq!(ttl(b), a.timestamp() + 1);
    }

    #[test]
    fn event_keys_order_by_time_then_id() {
        let t: DateTime<Utc> = "2026-12-03T12:00:00Z".parse().unwrap_or_default();
        let k = |secs: i64, id: &str| event_sk(t + Duration::milliseconds(secs), id).ok();
        assert!(k(0, "evt_b") < k(1, "evt_a"));
        assert!(k(0, "evt_a") < k(0, "evt_b"));
    }
}
