//! The request shapes the other modules send: a consistent read, a query over every page, a put
//! that must not overwrite, a delete, and a transaction whose cancellation is read item by item.

use std::collections::HashMap;
use std::future::Future;
use std::time::Duration;

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeValue, ConditionCheck, Delete, Put, ReturnValue, TransactWriteItem, Update,
};

use super::attrs::{Item, s};
use super::keys::{Key, PK};
use super::{
    DynamoStore, MAX_ATTEMPTS, build_err, is_condition_failed, is_transaction_conflict, unavailable,
};
use crate::ports::StoreError;

/// The condition of a write that must create its item (with `#pk` named).
pub(super) const IS_NEW: &str = "attribute_not_exists(#pk)";
/// The condition of a write that needs its item to exist (with `#pk` named).
pub(super) const EXISTS: &str = "attribute_exists(#pk)";

/// The attribute names and values one expression uses. A name `attr` is written `#attr` in the
/// expression (every name goes through a placeholder, so reserved words such as `count` and
/// `ttl` need no thought); values are written `:name`.
#[derive(Clone, Default)]
pub(super) struct Expr {
    names: HashMap<String, String>,
    values: HashMap<String, AttributeValue>,
}

impl Expr {
    /// Makes `#attr` stand for the attribute `attr`.
    pub(super) fn name(mut self, attr: &str) -> Self {
        self.names.insert(format!("#{attr}"), attr.to_owned());
        self
    }

    /// Makes `placeholder` (`:something`) stand for `value`.
    pub(super) fn value(mut self, placeholder: &str, value: AttributeValue) -> Self {
        self.values.insert(placeholder.to_owned(), value);
        self
    }

    /// The names, or `None` when there are none (DynamoDB refuses an empty map).
    pub(super) fn names(&self) -> Option<HashMap<String, String>> {
        (!self.names.is_empty()).then(|| self.names.clone())
    }

    /// The values, or `None` when there are none.
    pub(super) fn values(&self) -> Option<HashMap<String, AttributeValue>> {
        (!self.values.is_empty()).then(|| self.values.clone())
    }
}

/// Which items of a cancelled transaction failed their condition, by position.
pub(super) struct Refused(Vec<bool>);

impl Refused {
    /// Whether item `index` failed its condition.
    pub(super) fn failed(&self, index: usize) -> bool {
        self.0.get(index).copied().unwrap_or(false)
    }
}

/// Why a transaction did not happen.
pub(super) enum TxError {
    /// At least one condition did not hold.
    Refused(Refused),
    /// Anything else.
    Failed(StoreError),
}

/// Sends a request again, after a short pause, while DynamoDB answers that a transaction holds
/// one of its items (the SDK does not retry that one itself).
pub(super) async fn retry<T, E, R, F, Fut>(mut send: F) -> Result<T, SdkError<E, R>>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, SdkError<E, R>>>,
    E: ProvideErrorMetadata,
{
    let mut attempt = 1;
    loop {
        match send().await {
            Err(e) if is_transaction_conflict(&e) && attempt < MAX_ATTEMPTS => {
                pause(attempt).await;
                attempt += 1;
            }
            other => return other,
        }
    }
}

async fn pause(attempt: u32) {
    tokio::time::sleep(Duration::from_millis(u64::from(attempt) * 20)).await;
}

impl DynamoStore {
    /// A strongly consistent read of one item.
    pub(super) async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key.attrs()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| unavailable("GetItem", &e))?;
        Ok(out.item)
    }

    /// A query for the items whose `partition` attribute (the table's or `index`'s partition
    /// key) is `value`; add conditions and ordering, then run it with [`Self::query_all`].
    pub(super) fn query(
        &self,
        index: Option<&str>,
        partition: &str,
        value: String,
    ) -> QueryFluentBuilder {
        self.client
            .query()
            .table_name(&self.table)
            .set_index_name(index.map(str::to_owned))
            .expression_attribute_names("#p", partition)
            .expression_attribute_values(":p", s(value))
    }

    /// Every item `query` returns, over all its pages.
    pub(super) async fn query_all(
        &self,
        query: QueryFluentBuilder,
    ) -> Result<Vec<Item>, StoreError> {
        query
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| unavailable("Query", &e))
    }

    /// Stores `item` unless an item with its key exists (`Conflict(taken)`).
    pub(super) async fn put_new(&self, item: Item, taken: &'static str) -> Result<(), StoreError> {
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression(IS_NEW)
            .expression_attribute_names("#pk", PK);
        match retry(|| put.clone().send()).await {
            Ok(_) => Ok(()),
            Err(e) if is_condition_failed(&e) => Err(StoreError::Conflict(taken)),
            Err(e) => Err(unavailable("PutItem", &e)),
        }
    }

    /// Deletes one item (absent is fine); whether it existed.
    pub(super) async fn delete(&self, key: &Key) -> Result<bool, StoreError> {
        let delete = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key.attrs()))
            .return_values(ReturnValue::AllOld);
        let out = retry(|| delete.clone().send())
            .await
            .map_err(|e| unavailable("DeleteItem", &e))?;
        Ok(out.attributes.is_some_and(|old| !old.is_empty()))
    }

    /// Runs `items` as one transaction, sending it again while DynamoDB cancels it only for
    /// concurrent transactions on the same items.
    pub(super) async fn transact(&self, items: Vec<TransactWriteItem>) -> Result<(), TxError> {
        let mut attempt = 1;
        loop {
            let sent = self
                .client
                .transact_write_items()
                .set_transact_items(Some(items.clone()))
                .send()
                .await;
            let err = match sent {
                Ok(_) => return Ok(()),
                Err(e) => e,
            };
            let codes: Vec<&str> = match err.as_service_error() {
                Some(TransactWriteItemsError::TransactionCanceledException(c)) => c
                    .cancellation_reasons()
                    .iter()
                    .map(|r| r.code().unwrap_or("None"))
                    .collect(),
                _ => return Err(TxError::Failed(unavailable("TransactWriteItems", &err))),
            };
            if codes.contains(&"ConditionalCheckFailed") {
                let failed = codes.iter().map(|&c| c == "ConditionalCheckFailed");
                return Err(TxError::Refused(Refused(failed.collect())));
            }
            if codes.contains(&"TransactionConflict") && attempt < MAX_ATTEMPTS {
                pause(attempt).await;
                attempt += 1;
                continue;
            }
            return Err(TxError::Failed(StoreError::Unavailable(format!(
                "dynamodb TransactWriteItems cancelled: {}",
                codes.join(", ")
            ))));
        }
    }

    /// A transaction item: put `item`, if `condition` holds when one is given.
    pub(super) fn tx_put(
        &self,
        item: Item,
        condition: Option<&str>,
        expr: &Expr,
    ) -> Result<TransactWriteItem, StoreError> {
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .set_condition_expression(condition.map(str::to_owned))
            .set_expression_attribute_names(expr.names())
            .set_expression_attribute_values(expr.values())
            .build()
            .map_err(build_err)?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    /// A transaction item: apply `update` to `key` if `condition` holds.
    pub(super) fn tx_update(
        &self,
        key: &Key,
        update: &str,
        condition: &str,
        expr: &Expr,
    ) -> Result<TransactWriteItem, StoreError> {
        let update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key.attrs()))
            .update_expression(update)
            .condition_expression(condition)
            .set_expression_attribute_names(expr.names())
            .set_expression_attribute_values(expr.values())
            .build()
            .map_err(build_err)?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    /// A transaction item: delete `key`, if `condition` holds when one is given.
    pub(super) fn tx_delete(
        &self,
        key: &Key,
        condition: Option<&str>,
        expr: &Expr,
    ) -> Result<TransactWriteItem, StoreError> {
        let delete = Delete::builder()
            .table_name(&self.table)
            .set_key(Some(key.attrs()))
            .set_condition_expression(condition.map(str::to_owned))
            .set_expression_attribute_names(expr.names())
            .set_expression_attribute_values(expr.values())
            .build()
            .map_err(build_err)?;
        Ok(TransactWriteItem::builder().delete(delete).build())
    }

    /// A transaction item: write nothing, but require `condition` on `key`.
    pub(super) fn tx_check(
        &self,
        key: &Key,
        condition: &str,
        expr: &Expr,
    ) -> Result<TransactWriteItem, StoreError> {
        let check = ConditionCheck::builder()
            .table_name(&self.table)
            .set_key(Some(key.attrs()))
            .condition_expression(condition)
            .set_expression_attribute_names(expr.names())
            .set_expression_attribute_values(expr.values())
            .build()
            .map_err(build_err)?;
        Ok(TransactWriteItem::builder().condition_check(check).build())
    }
}
