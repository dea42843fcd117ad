//! Test support shared by the crates' tests (feature `testing`): an AWS emulator (moto's server)
//! on a loopback port, SDK settings that point at it, and a log capture.
#![allow(clippy::expect_used, clippy::panic)] // Test support: failing loudly is the point.

pub mod logs;
pub mod moto;
