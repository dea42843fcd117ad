//! Creates the table the store expects, for tests and the local ops tool (a deployed stack gets
//! the same table from `template.yaml`).

use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::client::Waiters;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, TimeToLiveSpecification,
};

use super::keys::{GSI1, GSI1_PK, GSI1_SK, GSI2, GSI2_PK, GSI2_SK, PK, SK, TTL};
use super::{build_err, unavailable};
use crate::ports::StoreError;

/// How long to wait for a new table to become active.
const ACTIVE_WITHIN: Duration = Duration::from_secs(120);

/// Creates `table` with the layout the module docs describe (on-demand billing, `gsi1` and
/// `gsi2` projecting every attribute, TTL on `ttl`) and waits until it is active.
///
/// # Errors
/// [`StoreError::Unavailable`] if DynamoDB refuses (the table exists, say) or the table does
/// not become active within two minutes.
pub async fn create_table(client: &Client, table: &str) -> Result<(), StoreError> {
    let mut attributes = Vec::new();
    for name in [PK, SK, GSI1_PK, GSI1_SK, GSI2_PK, GSI2_SK] {
        attributes.push(
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .map_err(build_err)?,
        );
    }
    client
        .create_table()
        .table_name(table)
        .set_attribute_definitions(Some(attributes))
        .set_key_schema(Some(key_schema(PK, SK)?))
        .global_secondary_indexes(index(GSI1, GSI1_PK, GSI1_SK)?)
        .global_secondary_indexes(index(GSI2, GSI2_PK, GSI2_SK)?)
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await
        .map_err(|e| unavailable("CreateTable", &e))?;

    client
        .wait_until_table_exists()
        .table_name(table)
        .wait(ACTIVE_WITHIN)
        .await
        .map_err(|e| StoreError::Unavailable(format!("dynamodb table {table} not active: {e}")))?;

    let ttl = TimeToLiveSpecification::builder()
        .attribute_name(TTL)
        .enabled(true)
        .build()
        .map_err(build_err)?;
    client
        .update_time_to_live()
        .table_name(table)
        .time_to_live_specification(ttl)
        .send()
        .await
        .map_err(|e| unavailable("UpdateTimeToLive", &e))?;
    Ok(())
}

fn key_schema(hash: &str, range: &str) -> Result<Vec<KeySchemaElement>, StoreError> {
    Ok(vec![
        KeySchemaElement::builder()
            .attribute_name(hash)
            .key_type(KeyType::Hash)
            .build()
            .map_err(build_err)?,
        KeySchemaElement::builder()
            .attribute_name(range)
            .key_type(KeyType::Range)
            .build()
            .map_err(build_err)?,
    ])
}

fn index(name: &str, hash: &str, range: &str) -> Result<GlobalSecondaryIndex, StoreError> {
    GlobalSecondaryIndex::builder()
        .index_name(name)
        .set_key_schema(Some(key_schema(hash, range)?))
        .projection(
            Projection::builder()
                .projection_type(ProjectionType::All)
                .build(),
        )
        .build()
        .map_err(build_err)
}
