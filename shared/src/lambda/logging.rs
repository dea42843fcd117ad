//! Logging for Lambda: JSON lines (or text with `AWS_LAMBDA_LOG_FORMAT=Text`), level from
//! `AWS_LAMBDA_LOG_LEVEL` or `RUST_LOG`, no ANSI colours, no timestamps (CloudWatch adds them).

use tracing_subscriber::EnvFilter;

/// Directives that keep the AWS SDK's wire-level logging off.
pub const SDK_CAP: &str = "aws_smithy_runtime=info,aws_smithy_runtime_api=info,aws_smithy_http=info,\
aws_sdk_dynamodb=info,aws_sdk_kms=info,aws_sdk_sesv2=info,aws_config=info,hyper=info,h2=info";

/// Installs the global subscriber once; later calls do nothing.
pub fn init_tracing() {
    let level = std::env::var("AWS_LAMBDA_LOG_LEVEL")
        .or_else(|_| std::env::var("RUST_LOG"))
        .unwrap_or_else(|_| "info".to_owned())
        .to_lowercase();
    // The SDK's own debug and trace output prints request and response bodies (KMS ciphertexts
    // among them): it is capped at info whatever the level asked for.
    let capped = format!("{level},{SDK_CAP}");
    let filter = EnvFilter::try_new(capped).unwrap_or_else(|_| EnvFilter::new("info"));
    let text = std::env::var("AWS_LAMBDA_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("text"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false)
        .without_time();
    let _ = if text {
        builder.try_init()
    } else {
        builder
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .try_init()
    };
}
