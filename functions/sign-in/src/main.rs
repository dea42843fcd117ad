//! The sign-in Lambda: serves its routes of the HTTP API (see `twostep::http::ROUTES`).

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    twostep::lambda::run_http("sign-in").await
}
