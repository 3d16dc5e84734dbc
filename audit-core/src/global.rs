//! The process-wide default auditor, for code that runs outside a request
//! (background jobs, CLIs) and has no auditor at hand.

use std::sync::OnceLock;

use crate::Auditor;

static GLOBAL: OnceLock<Auditor> = OnceLock::new();

/// The global default auditor was already set.
#[derive(Debug, thiserror::Error)]
#[error("the global default auditor is already set; set it once, at start-up")]
pub struct SetGlobalAuditorError(());

/// Sets the auditor that `#[audited]` functions outside a request use when
/// they name no `auditor = ...`. Can be set once per process.
pub fn set_global_auditor(auditor: Auditor) -> Result<(), SetGlobalAuditorError> {
    GLOBAL.set(auditor).map_err(|_| SetGlobalAuditorError(()))
}

/// The global default auditor, if one was set.
pub fn global_auditor() -> Option<&'static Auditor> {
    GLOBAL.get()
}
