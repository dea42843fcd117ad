//! Accounts and their policies, device groups, users and the audit trail: the long-lived items.

use chrono::{DateTime, Utc};

use super::attrs::{self, Item, POLICY, POLICY_VERSION, USER_ID, n, s};
use super::codec;
use super::io::{EXISTS, Expr, IS_NEW, TxError, retry};
use super::keys::{self, EVENT_PREFIX, GROUP_PREFIX, GSI1, GSI1_PK, PK, SK};
use super::{DynamoStore, is_condition_failed, unavailable};
use crate::domain::email::Email;
use crate::domain::ids::{AccountId, UserId};
use crate::domain::model::{Account, AuditEvent, DeviceGroup, Policy, User};
use crate::ports::StoreError;

impl DynamoStore {
    pub(super) async fn create_account(&self, account: &Account) -> Result<(), StoreError> {
        self.put_new(codec::account_item(account)?, "account exists")
            .await
    }

    pub(super) async fn get_account(&self, id: &AccountId) -> Result<Option<Account>, StoreError> {
        self.get(&keys::account(id))
            .await?
            .as_ref()
            .map(codec::account)
            .transpose()
    }

    // Limitation: every account sits in the one `gsi1` partition `ACCOUNTS`; fine for the
    // thousands of accounts a support product has, a hot partition for millions.
    pub(super) async fn list_accounts(&self) -> Result<Vec<Account>, StoreError> {
        let query = self
            .query(Some(GSI1), GSI1_PK, keys::ACCOUNTS.to_owned())
            .key_condition_expression("#p = :p");
        attrs::all(&self.query_all(query).await?, codec::account)
    }

    /// Checks, in order: the version advances by one (`Conflict`); then one conditional update
    /// writes the JSON and `policy_version` together. A failed condition is told apart by a
    /// consistent read: no account is `NotFound`, any other state `Conflict`.
    pub(super) async fn update_policy(
        &self,
        id: &AccountId,
        expected_version: u64,
        policy: &Policy,
    ) -> Result<(), StoreError> {
        if expected_version.checked_add(1) != Some(policy.version) {
            return Err(StoreError::Conflict("policy version must advance by one"));
        }
        let key = keys::account(id);
        let update = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key.attrs()))
            .update_expression("SET #policy = :policy, #policy_version = :next")
            .condition_expression("#policy_version = :expected")
            .expression_attribute_names("#policy", POLICY)
            .expression_attribute_names("#policy_version", POLICY_VERSION)
            .expression_attribute_values(":policy", codec::policy_json(policy)?)
            .expression_attribute_values(":next", n(policy.version))
            .expression_attribute_values(":expected", n(expected_version));
        match retry(|| update.clone().send()).await {
            Ok(_) => Ok(()),
            Err(e) if is_condition_failed(&e) => match self.get(&key).await? {
                None => Err(StoreError::NotFound),
                Some(_) => Err(StoreError::Conflict("policy changed")),
            },
            Err(e) => Err(unavailable("UpdateItem", &e)),
        }
    }

    /// One transaction: the account exists (`NotFound`), and the group is put (created or
    /// replaced).
    pub(super) async fn put_device_group(&self, group: &DeviceGroup) -> Result<(), StoreError> {
        let pk = Expr::default().name(PK);
        let items = vec![
            self.tx_check(&keys::account(&group.account_id), EXISTS, &pk)?,
            self.tx_put(codec::group_item(group)?, None, &Expr::default())?,
        ];
        match self.transact(items).await {
            Ok(()) => Ok(()),
            Err(TxError::Refused(r)) if r.failed(0) => Err(StoreError::NotFound),
            Err(TxError::Refused(_)) => Err(refused_without_cause("put_device_group")),
            Err(TxError::Failed(e)) => Err(e),
        }
    }

    pub(super) async fn list_device_groups(
        &self,
        account: &AccountId,
    ) -> Result<Vec<DeviceGroup>, StoreError> {
        let query = self
            .query(None, PK, keys::account_pk(account))
            .key_condition_expression("#p = :p AND begins_with(#sk, :prefix)")
            .expression_attribute_names("#sk", SK)
            .expression_attribute_values(":prefix", s(GROUP_PREFIX))
            .consistent_read(true);
        attrs::all(&self.query_all(query).await?, codec::group)
    }

    /// One transaction: the user's item and its email lookup, each only if new (`Conflict`),
    /// and the account exists (`NotFound`). A taken email is reported before a taken id.
    pub(super) async fn create_user(&self, user: &User) -> Result<(), StoreError> {
        let pk = Expr::default().name(PK);
        let items = vec![
            self.tx_put(codec::user_item(user)?, Some(IS_NEW), &pk)?,
            self.tx_put(codec::email_item(user), Some(IS_NEW), &pk)?,
            self.tx_check(&keys::account(&user.account_id), EXISTS, &pk)?,
        ];
        match self.transact(items).await {
            Ok(()) => Ok(()),
            Err(TxError::Refused(r)) if r.failed(1) => Err(StoreError::Conflict("email taken")),
            Err(TxError::Refused(r)) if r.failed(0) => Err(StoreError::Conflict("user exists")),
            Err(TxError::Refused(r)) if r.failed(2) => Err(StoreError::NotFound),
            Err(TxError::Refused(_)) => Err(refused_without_cause("create_user")),
            Err(TxError::Failed(e)) => Err(e),
        }
    }

    pub(super) async fn get_user(&self, id: &UserId) -> Result<Option<User>, StoreError> {
        self.get(&keys::user(id))
            .await?
            .as_ref()
            .map(codec::user)
            .transpose()
    }

    /// Two consistent reads: the email's lookup item, then the user it names.
    pub(super) async fn find_user_by_email(
        &self,
        email: &Email,
    ) -> Result<Option<User>, StoreError> {
        let Some(lookup) = self.get(&keys::email(email)).await? else {
            return Ok(None);
        };
        let id = UserId::from_raw(attrs::str(&lookup, USER_ID)?);
        let user = self.get_user(&id).await?;
        Ok(user.filter(|u| &u.email == email))
    }

    pub(super) async fn list_users(&self, account: &AccountId) -> Result<Vec<User>, StoreError> {
        let query = self
            .query(Some(GSI1), GSI1_PK, keys::account_users(account))
            .key_condition_expression("#p = :p");
        attrs::all(&self.query_all(query).await?, codec::user)
    }

    pub(super) async fn append_event(&self, event: &AuditEvent) -> Result<(), StoreError> {
        self.put_new(codec::event_item(event)?, "event exists")
            .await
    }

    /// Newest first from the event partition. With a cursor, the key range runs from the
    /// partition's first event up to the cursor's own key, inclusive (a key condition has no
    /// "between, exclusive"), so one more item is asked for and the cursor's item, if it
    /// exists, is dropped.
    pub(super) async fn list_events(
        &self,
        account: &AccountId,
        before: Option<(DateTime<Utc>, String)>,
        limit: u32,
    ) -> Result<Vec<AuditEvent>, StoreError> {
        let Ok(wanted) = usize::try_from(limit) else {
            return Err(StoreError::Unavailable(
                "event limit out of range".to_owned(),
            ));
        };
        if wanted == 0 {
            return Ok(Vec::new());
        }
        let cursor = before.map(|(at, id)| keys::event_sk(at, &id)).transpose()?;
        let query = self
            .query(None, PK, keys::events_pk(account))
            .expression_attribute_names("#sk", SK)
            .expression_attribute_values(":prefix", s(EVENT_PREFIX))
            .scan_index_forward(false)
            .consistent_read(true);
        let query = match &cursor {
            None => query.key_condition_expression("#p = :p AND begins_with(#sk, :prefix)"),
            Some(key) => query
                .key_condition_expression("#p = :p AND #sk BETWEEN :prefix AND :cursor")
                .expression_attribute_values(":cursor", s(key.as_str())),
        };
        let page = i32::try_from(limit.saturating_add(1)).unwrap_or(i32::MAX);
        let mut pages = query.limit(page).into_paginator().items().send();

        let mut events = Vec::new();
        while events.len() < wanted {
            let Some(next) = pages.next().await else {
                break;
            };
            let item: Item = next.map_err(|e| unavailable("Query", &e))?;
            if cursor.as_deref() == attrs::opt_str(&item, SK)? {
                continue;
            }
            events.push(codec::event(&item)?);
        }
        Ok(events)
    }
}

/// A cancelled transaction whose reasons name no failed condition we know how to report.
fn refused_without_cause(op: &str) -> StoreError {
    StoreError::Unavailable(format!(
        "dynamodb {op}: transaction refused on an unexpected item"
    ))
}
