//! The Lambdas' settings, read once from the environment at cold start.

use crate::config::ConfigError;

/// Where the AWS adapters find their resources.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AwsSettings {
    /// DynamoDB table (`TABLE_NAME`).
    pub table_name: String,
    /// KMS key id or ARN that seals TOTP secrets (`KMS_KEY_ID`).
    pub kms_key_id: String,
    /// Verified SES sender address (`SENDER_EMAIL`).
    pub sender_email: String,
    /// Optional SES configuration set (`SES_CONFIGURATION_SET`).
    pub ses_configuration_set: Option<String>,
}

impl AwsSettings {
    /// Reads the settings through `var`; every missing variable is named at once.
    ///
    /// # Errors
    /// [`ConfigError::Missing`] naming the missing variables.
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| {
            var(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let table = get("TABLE_NAME");
        let key = get("KMS_KEY_ID");
        let sender = get("SENDER_EMAIL");
        match (table, key, sender) {
            (Some(table_name), Some(kms_key_id), Some(sender_email)) => Ok(Self {
                table_name,
                kms_key_id,
                sender_email,
                ses_configuration_set: get("SES_CONFIGURATION_SET"),
            }),
            (table, key, sender) => {
                let missing: Vec<&str> = [
                    (table.is_none(), "TABLE_NAME"),
                    (key.is_none(), "KMS_KEY_ID"),
                    (sender.is_none(), "SENDER_EMAIL"),
                ]
                .into_iter()
                .filter_map(|(gone, name)| gone.then_some(name))
                .collect();
                Err(ConfigError::MissingMany(missing.join(", ")))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_every_missing_variable() {
        let err = AwsSettings::from_vars(|k| (k == "KMS_KEY_ID").then(|| "k".to_owned()));
        let text = err.map_err(|e| e.to_string()).err().unwrap_or_default();
        assert!(
            text.contains("TABLE_NAME") && text.contains("SENDER_EMAIL"),
            "{text}"
        );
        assert!(!text.contains("KMS_KEY_ID"), "{text}");
    }

    #[test]
    fn reads_all_settings() {
        let s = AwsSettings::from_vars(|k| match k {
            "TABLE_NAME" => Some("t".into()),
            "KMS_KEY_ID" => Some("alias/k".into()),
            "SENDER_EMAIL" => Some("no-reply@example.com".into()),
            _ => None,
        });
        assert_eq!(s.map(|s| s.ses_configuration_set), Ok(None));
    }
}
