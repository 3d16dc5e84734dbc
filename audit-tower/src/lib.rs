//! `AuditLayer`: a tower layer that turns every audited HTTP or gRPC request
//! into exactly one audit entry, for axum routers, tonic servers and plain
//! hyper services.
//!
//! This crate will hold the layer, the request scope it opens, client-IP
//! resolution behind trusted proxies, the audit policy, body capture and the
//! outcome classifier. Entries are recorded through an
//! [`audit_core::Auditor`].
