//! Attribute values: building them, reading them back typed (a wrong or missing attribute is
//! `Unavailable`, naming the attribute but never its value), and the names expressions use.

use std::collections::HashMap;
use std::str::FromStr;

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::keys::{self, Key};
use crate::ports::StoreError;

/// One item's attributes.
pub(super) type Item = HashMap<String, AttributeValue>;

// The attributes that conditions and updates name.
pub(super) const POLICY: &str = "policy";
pub(super) const POLICY_VERSION: &str = "policy_version";
pub(super) const DEVICE_ID: &str = "device_id";
pub(super) const DEVICE_SECRET: &str = "device_secret";
pub(super) const DEVICE_ENROLLED_AT: &str = "device_enrolled_at";
pub(super) const LAST_STEP: &str = "last_step";
pub(super) const TOTP_FAILURES: &str = "totp_failures";
/// When an admin last reset the user's device (user items).
pub(super) const DEVICE_RESET_AT: &str = "device_reset_at";
pub(super) const TOTP_LOCKED_UNTIL: &str = "totp_locked_until";
pub(super) const USER_ID: &str = "user_id";
pub(super) const VERSION: &str = "version";
pub(super) const BODY: &str = "body";
pub(super) const EXPIRES_AT: &str = "expires_at";
pub(super) const COUNT: &str = "count";
pub(super) const WINDOW_ENDS_AT: &str = "window_ends_at";

/// A string attribute.
pub(super) fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

/// A number attribute.
pub(super) fn n(value: impl std::fmt::Display) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

/// A time attribute (see [`keys::ts`]).
pub(super) fn t(value: DateTime<Utc>) -> Result<AttributeValue, StoreError> {
    keys::ts(value).map(AttributeValue::S)
}

/// A new item with `key`, then `attrs`.
pub(super) fn item(key: &Key, attrs: Vec<(&str, AttributeValue)>) -> Item {
    let mut out = key.attrs();
    out.extend(attrs.into_iter().map(|(k, v)| (k.to_owned(), v)));
    out
}

/// Adds `value` under `name` when it is `Some`: absent attributes stand for `None`.
pub(super) fn put_opt(item: &mut Item, name: &str, value: Option<AttributeValue>) {
    if let Some(v) = value {
        item.insert(name.to_owned(), v);
    }
}

pub(super) fn corrupt(what: &str, name: &str) -> StoreError {
    StoreError::Unavailable(format!("{what} attribute {name}"))
}

pub(super) fn opt_str<'a>(item: &'a Item, name: &str) -> Result<Option<&'a str>, StoreError> {
    match item.get(name) {
        None | Some(AttributeValue::Null(_)) => Ok(None),
        Some(AttributeValue::S(v)) => Ok(Some(v)),
        Some(_) => Err(corrupt("non-string", name)),
    }
}

pub(super) fn str<'a>(item: &'a Item, name: &str) -> Result<&'a str, StoreError> {
    opt_str(item, name)?.ok_or_else(|| corrupt("missing", name))
}

pub(super) fn num<T: FromStr>(item: &Item, name: &str) -> Result<T, StoreError> {
    match item.get(name) {
        Some(AttributeValue::N(v)) => v.parse().map_err(|_| corrupt("out-of-range", name)),
        Some(_) => Err(corrupt("non-number", name)),
        None => Err(corrupt("missing", name)),
    }
}

pub(super) fn time(item: &Item, name: &str) -> Result<DateTime<Utc>, StoreError> {
    keys::parse_ts(str(item, name)?, name)
}

pub(super) fn opt_time(item: &Item, name: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
    opt_str(item, name)?
        .map(|v| keys::parse_ts(v, name))
        .transpose()
}

/// `value` as JSON text.
pub(super) fn to_json<T: Serialize>(value: &T, what: &str) -> Result<AttributeValue, StoreError> {
    serde_json::to_string(value)
        .map(AttributeValue::S)
        .map_err(|e| StoreError::Unavailable(format!("cannot encode {what}: {:?}", e.classify())))
}

pub(super) fn from_json<T: DeserializeOwned>(item: &Item, name: &str) -> Result<T, StoreError> {
    // serde's message can quote the offending value (a sealed secret, say): keep only where.
    serde_json::from_str(str(item, name)?).map_err(|e| {
        StoreError::Unavailable(format!(
            "corrupt {name} JSON ({:?} at line {} column {})",
            e.classify(),
            e.line(),
            e.column()
        ))
    })
}

/// Every record in `items`, each through `read`.
pub(super) fn all<T>(
    items: &[Item],
    read: fn(&Item) -> Result<T, StoreError>,
) -> Result<Vec<T>, StoreError> {
    items.iter().map(read).collect()
}
