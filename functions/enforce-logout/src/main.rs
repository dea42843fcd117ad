//! The enforce-logout Lambda: runs the forced-logout job on each EventBridge schedule tick.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    twostep::lambda::run_schedule().await
}
