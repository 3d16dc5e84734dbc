//! [`AuditStore`] for [`MemorySink`]: the reference implementation of the
//! store semantics, evaluated over the entries in memory.

use std::sync::{MutexGuard, PoisonError};

use async_trait::async_trait;
use futures::StreamExt as _;
use futures::stream::BoxStream;
use time::OffsetDateTime;

use super::MemorySink;
use crate::AuditEvent;
use crate::query::Query;
use crate::store::{AuditStore, Page, PurgeReport, StoreError};

impl MemorySink {
    fn stored(&self) -> MutexGuard<'_, Vec<AuditEvent>> {
        // A panic elsewhere while holding the lock leaves the list intact.
        self.state.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The entries matching `query`'s filters, in storage order.
    fn matching(&self, query: &Query) -> Vec<AuditEvent> {
        let query = query.resolved(OffsetDateTime::now_utc());
        self.stored().iter().filter(|e| query.matches(e)).cloned().collect()
    }
}

#[async_trait]
impl AuditStore for MemorySink {
    async fn query(&self, query: &Query) -> Result<Page, StoreError> {
        let mut hits = self.matching(query);
        hits.retain(|e| query.is_after_cursor(e));
        hits.sort_by(|a, b| query.order.compare(a, b));
        Ok(Page::from_ordered(hits, query.effective_limit()))
    }

    fn scan<'a>(&'a self, query: &'a Query) -> BoxStream<'a, Result<AuditEvent, StoreError>> {
        futures::stream::iter(self.matching(query).into_iter().map(Ok)).boxed()
    }

    async fn purge(
        &self,
        before: OffsetDateTime,
        dry_run: bool,
    ) -> Result<PurgeReport, StoreError> {
        // Same lock order as the write path: entries, then ids.
        let mut stored = self.stored();
        let old = stored.iter().filter(|e| e.time < before).count() as u64;
        if !dry_run && old > 0 {
            let mut ids = self.state.ids.lock().unwrap_or_else(PoisonError::into_inner);
            stored.retain(|e| {
                let keep = e.time >= before;
                if !keep {
                    ids.remove(&e.id);
                }
                keep
            });
        }
        Ok(PurgeReport::new(old, before, dry_run))
    }
}
