//! The production Store: one DynamoDB table, every atomic operation one conditional write or
//! one `TransactWriteItems`.
//!
//! # Table
//! Key `pk` (S) and `sk` (S); two global secondary indexes, `gsi1` (`gsi1pk`, `gsi1sk`) and
//! `gsi2` (`gsi2pk`, `gsi2sk`), both projecting every attribute; on-demand billing; TTL on the
//! number attribute `ttl` (epoch seconds). [`create_table`] makes it.
//!
//! | item | `pk` | `sk` | `gsi1pk` / `gsi1sk` | `gsi2pk` / `gsi2sk` | `ttl` |
//! |---|---|---|---|---|---|
//! | account | `ACCOUNT#{id}` | `ACCOUNT` | `ACCOUNTS` / `{created_at}#{id}` | | |
//! | device group | `ACCOUNT#{id}` | `GROUP#{name}` | | | |
//! | user | `USER#{id}` | `USER` | `ACCOUNT#{account}#USERS` / `{created_at}#{id}` | | |
//! | email lookup | `EMAIL#{normalised email}` | `EMAIL` | | | |
//! | challenge | `CHALLENGE#{token hash}` | `CHALLENGE` | | | yes |
//! | session | `SESSION#{token hash}` | `SESSION` | `USER#{user}#SESSIONS` / `{created_at}#{hash}` | `ACCOUNT#{account}#SESSIONS` / same | yes |
//! | counter | `COUNTER#{key}` | `COUNTER` | | | yes |
//! | audit event | `ACCOUNT#{id}#EVENTS` | `EVENT#{at}#{event id}` | | | |
//!
//! What each item holds, and which attribute which condition tests:
//! - Account: `name`, `created_at`, `policy` (JSON) and `policy_version` (N), written in one
//!   request; `update_policy` is conditional on `policy_version`, whose value is the policy's
//!   version on reads.
//! - User: every field as its own attribute. The ones conditions test are scalars: `device_id`
//!   (absent without a device, with `device_secret`, `device_enrolled_at` and `last_step`),
//!   `last_step` (N), `totp_failures` (N), `totp_locked_until` (absent when unlocked),
//!   `device_reset_at` (S, RFC 3339 with nanoseconds, so text order is time order; absent until
//!   an admin reset; an enrollment whose challenge began at or before it is refused).
//! - Email lookup: `user_id`. A user and its lookup are created in one transaction, each
//!   conditional on its key being new, so an email is unique across the service.
//! - Challenge: the whole record as JSON in `body`, plus `version` (N), `user_id` and
//!   `expires_at` for conditions; writes are conditional on `version` and `user_id`.
//! - Session and audit event: every field as its own attribute (an event's detail as JSON).
//! - Counter: `count` (N) and `window_ends_at`; a hit is an atomic `ADD` inside the window.
//!
//! Conventions:
//! - Times are UTC RFC 3339 text with nine fractional digits, so text order is time order
//!   (in sort keys and in conditions alike); years outside 0000–9999 are refused.
//! - TTL deletion lags by up to days (and emulators never run it), so every read of a challenge,
//!   session or counter compares its expiry with `now`: an item is live while
//!   `now < expires_at`. `ttl` is the expiry rounded up to a whole second, so TTL never removes
//!   a live item.
//! - Reads of single items are strongly consistent. The lists (accounts, users, an account's or
//!   a user's sessions) read a GSI, which is eventually consistent: a write from the last
//!   moment may be missing from them.
//! - Referential integrity: a user, or a device group, of an unknown account is refused with
//!   [`StoreError::NotFound`] (a condition check on the account inside the same transaction).
//!   Challenges and sessions are not checked against their user: the flow only makes them for
//!   a user it has just read.
//! - A lost race is a clean [`StoreError::Conflict`] or [`StoreError::StepReplayed`]; a
//!   transaction that DynamoDB cancels for a concurrent transaction on the same item is sent
//!   again a few times before it counts as [`StoreError::Unavailable`].
//! - Error details name the operation and DynamoDB's error code and message, never an item's
//!   contents.

mod attrs;
mod codec;
mod commits;
mod directory;
mod io;
mod keys;
mod schema;
mod store_impl;
mod tokens;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};

pub use schema::create_table;

use crate::ports::StoreError;

/// How often a request that lost a race with a concurrent transaction is sent in all.
const MAX_ATTEMPTS: u32 = 5;

/// Longest DynamoDB error message kept in an error detail.
const MAX_MESSAGE: usize = 200;

/// A [`Store`](crate::ports::Store) on one DynamoDB table (see the module docs for its layout).
#[derive(Clone)]
pub struct DynamoStore {
    client: Client,
    table: String,
}

impl std::fmt::Debug for DynamoStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DynamoStore")
            .field("table", &self.table)
            .finish_non_exhaustive()
    }
}

impl DynamoStore {
    /// A store on the existing table `table` (made by [`create_table`] or the SAM template).
    pub fn new(client: Client, table: String) -> Self {
        Self { client, table }
    }

    /// The table's name.
    pub fn table(&self) -> &str {
        &self.table
    }
}

/// Whether `e` is DynamoDB refusing a write because its condition did not hold.
fn is_condition_failed<E: ProvideErrorMetadata, R>(e: &SdkError<E, R>) -> bool {
    service_code(e) == Some("ConditionalCheckFailedException")
}

/// Whether `e` is DynamoDB refusing a write because a transaction holds the item; worth
/// sending again.
fn is_transaction_conflict<E: ProvideErrorMetadata, R>(e: &SdkError<E, R>) -> bool {
    service_code(e) == Some("TransactionConflictException")
}

fn service_code<E: ProvideErrorMetadata, R>(e: &SdkError<E, R>) -> Option<&str> {
    match e {
        SdkError::ServiceError(service) => service.err().code(),
        _ => None,
    }
}

/// A backend failure of `op`. The detail holds the error's code and message (DynamoDB's
/// messages describe the request's shape, not its values) or the transport failure; never a
/// response body, which could hold an item.
fn unavailable<E, R>(op: &str, e: &SdkError<E, R>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let detail = match e {
        SdkError::ServiceError(service) => {
            let err = service.err();
            let message: String = err
                .message()
                .unwrap_or("")
                .chars()
                .take(MAX_MESSAGE)
                .collect();
            format!("{}: {message}", err.code().unwrap_or("unknown error"))
        }
        SdkError::TimeoutError(_) => "timeout".to_owned(),
        SdkError::DispatchFailure(failure) => match failure.as_connector_error() {
            Some(connector) => format!("dispatch failure: {connector}"),
            None => "dispatch failure".to_owned(),
        },
        SdkError::ResponseError(_) => "unreadable response".to_owned(),
        SdkError::ConstructionFailure(_) => "request construction failure".to_owned(),
        _ => "unknown SDK error".to_owned(),
    };
    StoreError::Unavailable(format!("dynamodb {op}: {detail}"))
}

/// A request that could not be built (a required field missing: a bug, not a backend fault).
fn build_err(e: aws_sdk_dynamodb::error::BuildError) -> StoreError {
    StoreError::Unavailable(format!("dynamodb request: {e}"))
}

fn outcome(e: &StoreError) -> &'static str {
    e.outcome()
}
