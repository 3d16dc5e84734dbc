//! Redaction (interface stub; being implemented).
use crate::AuditEvent;

/// Removes secrets from entries before they are hashed or leave the process.
#[derive(Debug, Clone, Default)]
pub struct Redactor {}

impl Redactor {
    /// Redacts every part of an entry in place.
    pub fn redact_event(&self, _event: &mut AuditEvent) {}
}

/// A value that always serializes redacted.
#[derive(Clone, Default)]
pub struct Sensitive<T>(pub T);
impl<T> std::fmt::Debug for Sensitive<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[REDACTED]")
    }
}
