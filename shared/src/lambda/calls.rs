//! Counts the AWS calls a request makes, per service and operation: an SDK interceptor that the
//! tests use to hold the call budget (a TOTP login: one KMS call, three DynamoDB calls) and that
//! a function may log.

use std::sync::{Arc, Mutex};

use aws_sdk_dynamodb::config::interceptors::BeforeSerializationInterceptorContextRef;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::error::BoxError;
use aws_smithy_runtime_api::client::orchestrator::Metadata;

/// A shared log of `service:operation` names, one per call attempt sequence.
#[derive(Clone, Debug, Default)]
pub struct AwsCalls(Arc<Mutex<Vec<String>>>);

impl AwsCalls {
    /// The calls so far, in order.
    pub fn take(&self) -> Vec<String> {
        match self.0.lock() {
            Ok(mut calls) => std::mem::take(&mut *calls),
            Err(poisoned) => std::mem::take(&mut *poisoned.into_inner()),
        }
    }

    /// Appends `calls` (to put back what was taken).
    pub fn extend(&self, calls: impl IntoIterator<Item = String>) {
        if let Ok(mut log) = self.0.lock() {
            log.extend(calls);
        }
    }

    /// How many of `calls` went to `service` (`DynamoDB`, `KMS`, `SESv2`; any case).
    pub fn count(calls: &[String], service: &str) -> usize {
        calls
            .iter()
            .filter(|c| {
                c.split(':')
                    .next()
                    .is_some_and(|s| s.eq_ignore_ascii_case(service))
            })
            .count()
    }
}

impl Intercept for AwsCalls {
    fn name(&self) -> &'static str {
        "AwsCalls"
    }

    fn read_before_serialization(
        &self,
        _context: &BeforeSerializationInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let name = cfg.load::<Metadata>().map_or_else(
            || "unknown:unknown".to_owned(),
            |m| format!("{}:{}", m.service(), m.name()),
        );
        if let Ok(mut calls) = self.0.lock() {
            calls.push(name);
        }
        Ok(())
    }
}
