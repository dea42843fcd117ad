//! The store conformance suite: the behaviour every [`Store`] adapter must show, run against
//! the SQLite store in this crate's tests and against the DynamoDB store on an emulator.
//!
//! Every case makes its own account, users and tokens with ids derived from the case's name, so
//! all cases can share one store (a fresh database or table per run). Time is pinned at
//! [`fixtures::t0`]. The concurrency cases spawn tasks so that, on a multi-thread runtime, the
//! calls truly overlap; their assertions hold for any interleaving, which is the point.

// Test code: a failed expectation should stop the case loudly, with its location.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod commits;
mod concurrency;
mod directory;
pub mod fixtures;
mod tokens;

use std::sync::Arc;

use crate::ports::Store;

pub use commits::{
    commit_enrollment_first_device, commit_enrollment_refuses_a_setup_begun_before_a_reset,
    commit_enrollment_refuses_stale_device, commit_enrollment_replacement, commit_login_happy_path,
    commit_login_refuses_replay, commit_login_refuses_stale_challenge,
};
pub use concurrency::{
    concurrent_commit_login_same_step, concurrent_counter_hits, concurrent_totp_failures,
    concurrent_totp_tries_over_the_limit, concurrent_update_policy,
};
pub use directory::{
    accounts, device_groups, events_newest_first_with_cursor, update_policy, users,
    users_duplicate_email,
};
pub use tokens::{
    challenges, counters, expired_items_read_as_gone, sessions, totp_failures_and_lock,
    totp_try_given_back,
};

/// Runs every case, one after the other, against `store` (which should start empty).
pub async fn run_all(store: Arc<dyn Store>) {
    accounts(&store).await;
    update_policy(&store).await;
    device_groups(&store).await;
    users(&store).await;
    users_duplicate_email(&store).await;
    events_newest_first_with_cursor(&store).await;

    challenges(&store).await;
    expired_items_read_as_gone(&store).await;
    sessions(&store).await;
    counters(&store).await;
    totp_failures_and_lock(&store).await;
    totp_try_given_back(&store).await;

    commit_login_happy_path(&store).await;
    commit_login_refuses_replay(&store).await;
    commit_login_refuses_stale_challenge(&store).await;
    commit_enrollment_first_device(&store).await;
    commit_enrollment_replacement(&store).await;
    commit_enrollment_refuses_stale_device(&store).await;
    commit_enrollment_refuses_a_setup_begun_before_a_reset(&store).await;

    concurrent_commit_login_same_step(&store).await;
    concurrent_totp_failures(&store).await;
    concurrent_totp_tries_over_the_limit(&store).await;
    concurrent_counter_hits(&store).await;
    concurrent_update_policy(&store).await;
}
