//! Twostep: two-step verification (authenticator-app codes) for a remote-support product.
//!
//! `domain` holds the rules, `ports` what the flow needs from outside, `adapters` the embedded
//! implementations of those ports, `flow` one function per use case, `http` the mapping of
//! requests and errors that the Lambdas and the local server share.

pub mod adapters;
pub mod config;
pub mod domain;
pub mod flow;
pub mod http;
#[cfg(feature = "lambda")]
pub mod lambda;
pub mod ports;

#[cfg(any(test, feature = "conformance"))]
pub mod conformance;

#[cfg(any(test, feature = "testing"))]
pub mod testing;
