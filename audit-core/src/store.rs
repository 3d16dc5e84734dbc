//! The read side: stores that can be queried, scanned and purged.
//!
//! An [`AuditStore`] answers [`Query`]s with pages of entries (the CLI's
//! `audit query`, an admin API), streams every matching entry in the order it
//! was written (export, statistics, chain verification), and may purge old
//! entries. The file and Postgres sinks of `audit-sinks` implement it, and so
//! does `audit_core::testing::MemorySink` (feature `testing`).
//!
//! Every store behaves the same way; the conformance suite in
//! `audit_core::testing::conformance` (feature `testing`) writes that behaviour
//! down once, and each store's tests run it.
//!
//! ```
//! use audit_core::query::Query;
//! use audit_core::testing::MemorySink;
//! use audit_core::{AuditEvent, AuditStore};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), audit_core::store::StoreError> {
//! let sink = MemorySink::new();
//! sink.load((0..3).map(|n| {
//!     AuditEvent::builder("project.update")
//!         .id(uuid::Uuid::now_v7())
//!         .tenant(if n == 0 { "acme" } else { "globex" })
//!         .build()
//! }));
//!
//! let mut query = Query::new().tenant("globex").limit(1);
//! let mut seen = 0;
//! loop {
//!     let page = sink.query(&query).await?;
//!     seen += page.entries.len();
//!     match page.next_cursor {
//!         Some(cursor) => query = query.cursor(cursor),
//!         None => break,
//!     }
//! }
//! assert_eq!(seen, 2);
//! # Ok(()) }
//! ```

use std::error::Error;
use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use futures::stream::BoxStream;
use time::OffsetDateTime;

use crate::AuditEvent;
use crate::query::{Cursor, Query};

/// A store of audit entries that can be queried.
///
/// # Contract
///
/// - [`query`](AuditStore::query) returns the entries matching every filter of
///   the query (see [`Query::matches`]), ordered by `(time, id)` in
///   [`Query::order`], starting after [`Query::cursor`], at most
///   [`Query::effective_limit`] of them (default 100, at most 10 000), with
///   a [`Page::next_cursor`] exactly when more follow. Relative time bounds
///   are resolved once per call.
/// - [`scan`](AuditStore::scan) streams every matching entry in storage
///   order: the order the entries were written, oldest write first. It ignores
///   limit, cursor and order. Chain verification depends on this order.
/// - Entries come back exactly as they were written (all fields, times in
///   microseconds).
#[async_trait]
pub trait AuditStore: Send + Sync + fmt::Debug {
    /// One page of the entries matching `query`, in `query.order`.
    ///
    /// Every page holds `min(limit, remaining)` entries, and
    /// [`Page::next_cursor`] is `Some` exactly when more matching entries
    /// follow (fetch `limit + 1` rows to know; [`Page::from_ordered`] does
    /// this). Pass it back with [`Query::cursor`] for the next page.
    async fn query(&self, query: &Query) -> Result<Page, StoreError>;

    /// Every entry matching `query`'s filters, in storage (write) order,
    /// streamed. `limit`, `cursor` and `order` are ignored.
    fn scan<'a>(&'a self, query: &'a Query) -> BoxStream<'a, Result<AuditEvent, StoreError>>;

    /// Removes entries older than `before` (or, with `dry_run`, only counts
    /// them). A store may remove less than asked, e.g. only whole files or
    /// partitions that end before `before`; it never removes an entry at or
    /// after `before`.
    ///
    /// The default implementation returns [`StoreError::Unsupported`].
    async fn purge(
        &self,
        before: OffsetDateTime,
        dry_run: bool,
    ) -> Result<PurgeReport, StoreError> {
        let _ = (before, dry_run);
        Err(StoreError::Unsupported("purge"))
    }
}

#[async_trait]
impl<S: AuditStore + ?Sized> AuditStore for Arc<S> {
    async fn query(&self, query: &Query) -> Result<Page, StoreError> {
        (**self).query(query).await
    }
    fn scan<'a>(&'a self, query: &'a Query) -> BoxStream<'a, Result<AuditEvent, StoreError>> {
        (**self).scan(query)
    }
    async fn purge(
        &self,
        before: OffsetDateTime,
        dry_run: bool,
    ) -> Result<PurgeReport, StoreError> {
        (**self).purge(before, dry_run).await
    }
}

#[async_trait]
impl<S: AuditStore + ?Sized> AuditStore for Box<S> {
    async fn query(&self, query: &Query) -> Result<Page, StoreError> {
        (**self).query(query).await
    }
    fn scan<'a>(&'a self, query: &'a Query) -> BoxStream<'a, Result<AuditEvent, StoreError>> {
        (**self).scan(query)
    }
    async fn purge(
        &self,
        before: OffsetDateTime,
        dry_run: bool,
    ) -> Result<PurgeReport, StoreError> {
        (**self).purge(before, dry_run).await
    }
}

/// One page of query results.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct Page {
    /// The entries, in the query's order.
    pub entries: Vec<AuditEvent>,
    /// Where the next page starts: `Some` exactly when more matching entries
    /// follow this page.
    pub next_cursor: Option<Cursor>,
}

impl Page {
    /// A page of entries.
    pub fn new(entries: Vec<AuditEvent>, next_cursor: Option<Cursor>) -> Self {
        Self { entries, next_cursor }
    }

    /// A page from the matching entries after the cursor, already in the
    /// query's order: takes `limit` of them and sets `next_cursor` exactly
    /// when one more exists.
    pub fn from_ordered(entries: impl IntoIterator<Item = AuditEvent>, limit: usize) -> Self {
        let mut entries = entries.into_iter();
        let page: Vec<AuditEvent> = entries.by_ref().take(limit).collect();
        let more = entries.next().is_some();
        let next_cursor = if more { page.last().map(Cursor::after) } else { None };
        Self { entries: page, next_cursor }
    }

    /// Whether the page holds no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// What [`AuditStore::purge`] removed, or would remove.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PurgeReport {
    /// How many entries were removed (with `dry_run`: would be removed).
    pub removed: u64,
    /// The cut-off: only entries before it were considered.
    pub before: OffsetDateTime,
    /// Whether this was a dry run that removed nothing.
    pub dry_run: bool,
}

impl PurgeReport {
    /// A report of `removed` entries before `before`.
    pub fn new(removed: u64, before: OffsetDateTime, dry_run: bool) -> Self {
        Self { removed, before, dry_run }
    }
}

/// Why a store could not answer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The store cannot be reached or read: connection refused, I/O error.
    #[error(
        "audit store unavailable: {message} (check that the store is reachable and readable, \
         then try again)"
    )]
    Unavailable {
        /// What failed.
        message: String,
        /// The underlying error.
        #[source]
        source: Option<Box<dyn Error + Send + Sync>>,
    },
    /// Stored data cannot be read back as entries.
    #[error(
        "corrupt audit data at {location}: {message} (run `audit verify` to find every damaged \
         entry; the store was not changed)"
    )]
    Corrupt {
        /// Where: a file and line, a table and id.
        location: String,
        /// What is wrong there.
        message: String,
    },
    /// The query cannot be run by this store.
    #[error("invalid query: {0}")]
    InvalidQuery(String),
    /// The store does not support this operation.
    #[error("this audit store does not support {0}; use a store that does (file or Postgres)")]
    Unsupported(&'static str),
    /// Anything else.
    #[error(transparent)]
    Other(Box<dyn Error + Send + Sync>),
}

impl StoreError {
    /// The store cannot be reached or read.
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::Unavailable { message: message.into(), source: None }
    }

    /// The store cannot be reached or read, because of `source`.
    pub fn unavailable_with(
        message: impl Into<String>,
        source: impl Into<Box<dyn Error + Send + Sync>>,
    ) -> Self {
        Self::Unavailable { message: message.into(), source: Some(source.into()) }
    }

    /// Stored data at `location` cannot be read back.
    pub fn corrupt(location: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Corrupt { location: location.into(), message: message.into() }
    }

    /// Any other error.
    pub fn other(error: impl Into<Box<dyn Error + Send + Sync>>) -> Self {
        Self::Other(error.into())
    }
}
