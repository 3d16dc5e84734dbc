//! Procedural macros for `audit-core`: the `#[audited]` attribute.
//!
//! This crate will hold the `#[audited(event = "project.update")]` attribute that
//! names what an operation means and fills the request's audit scope. It is
//! re-exported by `audit-core` (feature `macros`, on by default); depend on
//! `audit-core` rather than on this crate directly.
