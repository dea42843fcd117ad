//! HTTP mapping.
