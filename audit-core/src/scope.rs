#![allow(missing_docs, unreachable_pub)]
#[derive(Debug, Clone)]
pub struct AuditScope;
