//! The [`AuditStore`] conformance suite: the store semantics, written once.
//!
//! Every store (memory, file, Postgres) runs [`run`] in its tests against a
//! fresh, empty store. The suite writes a deterministic [`fixture`] through
//! the store's own write path, then checks every filter alone and combined,
//! both orders, cursor pagination, [`AuditStore::scan`] and, if the store
//! supports it, [`AuditStore::purge`]. Expected results are computed from the
//! fixture with plain predicates, independently of [`Query::matches`].
//!
//! ```
//! use audit_core::testing::{MemorySink, conformance};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let sink = MemorySink::new();
//! conformance::run(&sink, |entries| {
//!     sink.load(entries);
//!     std::future::ready(())
//! })
//! .await;
//! # }
//! ```

mod cases;
mod fixture;

pub use fixture::{FIXTURE_LEN, fixture};

use std::collections::{HashMap, HashSet};
use std::future::Future;

use futures::TryStreamExt as _;
use uuid::Uuid;

use crate::AuditEvent;
use crate::query::{Cursor, Order, Query};
use crate::store::{AuditStore, StoreError};
use fixture::LOAD_BATCH;

/// Runs the conformance suite against `store`.
///
/// `store` must start empty. `load` must write the entries it is given through
/// the store's own write path (e.g. a sink's `Sink::write`), in order, and the
/// entries must be visible to queries once its future completes. It is called
/// several times, with consecutive batches of [`fixture`].
///
/// Ends with [`AuditStore::purge`] (skipped if the store answers
/// [`StoreError::Unsupported`]), so the store is not left with the full
/// fixture.
///
/// # Panics
///
/// On the first behaviour that differs from the contract of [`AuditStore`],
/// with a message naming the check, the query, and the expected and actual
/// entries (as `#<fixture index> <event>`). This is a test helper.
pub async fn run<S, L, Fut>(store: &S, mut load: L)
where
    S: AuditStore + ?Sized,
    L: FnMut(Vec<AuditEvent>) -> Fut,
    Fut: Future<Output = ()>,
{
    let fixture = fixture();
    let suite = Suite::new(store, fixture.clone());

    suite.check_starts_empty().await;
    for batch in fixture.chunks(LOAD_BATCH) {
        load(batch.to_vec()).await;
    }
    suite.check_everything_was_loaded().await;
    suite.check_filters().await;
    suite.check_pagination().await;
    suite.check_scan().await;
    suite.check_purge().await;
}

pub(super) struct Suite<'a, S: ?Sized> {
    pub(super) store: &'a S,
    /// In write order.
    pub(super) fixture: Vec<AuditEvent>,
    pub(super) index: HashMap<Uuid, usize>,
}

impl<'a, S: AuditStore + ?Sized> Suite<'a, S> {
    fn new(store: &'a S, fixture: Vec<AuditEvent>) -> Self {
        let index = fixture.iter().enumerate().map(|(i, e)| (e.id, i)).collect();
        Self { store, fixture, index }
    }

    fn label(&self, e: &AuditEvent) -> String {
        match self.index.get(&e.id) {
            Some(i) => format!("#{i} {}", e.event),
            None => format!("unknown entry {} {}", e.id, e.event),
        }
    }

    fn labels(&self, entries: &[AuditEvent]) -> Vec<String> {
        entries.iter().map(|e| self.label(e)).collect()
    }

    /// The fixture entries passing `filter`, sorted in `order`.
    fn sorted(&self, filter: &dyn Fn(&AuditEvent) -> bool, order: Order) -> Vec<AuditEvent> {
        let mut out: Vec<AuditEvent> = self.fixture.iter().filter(|e| filter(e)).cloned().collect();
        out.sort_by(|a, b| order.compare(a, b));
        out
    }

    /// Asserts that `actual` is exactly `expected`: same entries, same order,
    /// every field equal.
    fn assert_entries(
        &self,
        check: &str,
        query: &Query,
        actual: &[AuditEvent],
        expected: &[AuditEvent],
    ) {
        let (got, want) = (self.labels(actual), self.labels(expected));
        assert!(
            got == want,
            "store conformance: {check}: wrong entries\n  query: {query:?}\n  expected {} entries: \
             {want:?}\n  got {} entries: {got:?}",
            want.len(),
            got.len(),
        );
        for (a, e) in actual.iter().zip(expected) {
            assert!(
                a == e,
                "store conformance: {check}: entry {} did not come back as it was written\n  \
                 written: {e:?}\n  read:    {a:?}",
                self.label(e),
            );
        }
    }

    async fn query(&self, check: &str, query: &Query) -> crate::store::Page {
        match self.store.query(query).await {
            Ok(page) => page,
            Err(e) => panic!("store conformance: {check}: query failed: {e}\n  query: {query:?}"),
        }
    }

    async fn scan(&self, check: &str, query: &Query) -> Vec<AuditEvent> {
        match self.store.scan(query).try_collect().await {
            Ok(entries) => entries,
            Err(e) => panic!("store conformance: {check}: scan failed: {e}\n  query: {query:?}"),
        }
    }

    async fn check_starts_empty(&self) {
        let page = self.query("empty store", &Query::new()).await;
        assert!(
            page.entries.is_empty(),
            "store conformance: the store must start empty, but it holds {} entries; give the \
             suite a fresh store",
            page.entries.len()
        );
        assert!(page.next_cursor.is_none(), "store conformance: an empty store gave a next_cursor");
        let scanned = self.scan("empty store", &Query::new()).await;
        assert!(scanned.is_empty(), "store conformance: scan of an empty store returned entries");
    }

    async fn check_everything_was_loaded(&self) {
        let scanned = self.scan("after load", &Query::new()).await;
        assert!(
            scanned.len() == self.fixture.len(),
            "store conformance: after load, scan returned {} of the {} written entries; `load` \
             must make every entry visible before its future completes",
            scanned.len(),
            self.fixture.len()
        );
    }

    async fn check_filters(&self) {
        for case in self.cases() {
            let expected_all = self.sorted(&case.expect, Order::OldestFirst);
            if case.non_empty {
                assert!(
                    !expected_all.is_empty(),
                    "store conformance: bug in the suite: case `{}` expects no entries",
                    case.name
                );
            }
            for order in [Order::NewestFirst, Order::OldestFirst] {
                let query = case.query.clone().order(order);
                let expected = self.sorted(&case.expect, order);
                let page = self.query(&case.name, &query).await;
                let check = format!("filter `{}` ({order:?})", case.name);
                self.assert_entries(&check, &query, &page.entries, &expected);
                assert!(
                    page.next_cursor.is_none(),
                    "store conformance: {check}: all {} entries fit in one page, but next_cursor \
                     is {:?}\n  query: {query:?}",
                    expected.len(),
                    page.next_cursor
                );
            }
            let written: Vec<AuditEvent> =
                self.fixture.iter().filter(|e| (case.expect)(e)).cloned().collect();
            let scanned = self.scan(&case.name, &case.query).await;
            let check = format!("scan with filter `{}`", case.name);
            self.assert_entries(&check, &case.query, &scanned, &written);
        }
    }

    async fn check_pagination(&self) {
        let everything: &dyn Fn(&AuditEvent) -> bool = &|_| true;
        let acme: &dyn Fn(&AuditEvent) -> bool = &|e| e.tenant.as_deref() == Some("acme");
        let filters = [
            ("everything", Query::new(), everything),
            ("tenant acme", Query::new().tenant("acme"), acme),
        ];
        for (name, base, filter) in filters {
            for order in [Order::NewestFirst, Order::OldestFirst] {
                let expected = self.sorted(filter, order);
                for size in [1, 7, 100] {
                    let check = format!("pagination of `{name}`, {order:?}, {size} per page");
                    self.walk(&check, base.clone().order(order).limit(size), &expected).await;
                }
                // A cursor made by the client from an entry works like one the store gave.
                let query = base.clone().order(order).limit(7).cursor(Cursor::after(&expected[9]));
                let page = self.query("cursor from an entry", &query).await;
                let check = format!("`{name}`, {order:?}, cursor after the 10th entry");
                self.assert_entries(&check, &query, &page.entries, &expected[10..17]);
                assert!(
                    page.next_cursor.is_some(),
                    "store conformance: {check}: next_cursor is None"
                );
            }
        }
        let query = Query::new().tenant("nobody").limit(7);
        let page = self.query("empty page", &query).await;
        assert!(
            page.entries.is_empty() && page.next_cursor.is_none(),
            "store conformance: a query matching nothing must give an empty page without a \
             next_cursor; got {} entries, next_cursor {:?}",
            page.entries.len(),
            page.next_cursor
        );
    }

    /// Follows `next_cursor` from the first page to the last and checks that
    /// the pages together hold `expected`, each entry once, in order.
    async fn walk(&self, check: &str, first: Query, expected: &[AuditEvent]) {
        let limit = first.limit.unwrap_or(Query::DEFAULT_LIMIT);
        let mut query = first;
        let mut seen: Vec<AuditEvent> = Vec::new();
        let mut ids = HashSet::new();
        for page_no in 1.. {
            let page = self.query(check, &query).await;
            assert!(
                page.entries.len() <= limit,
                "store conformance: {check}: page {page_no} has {} entries, more than the limit",
                page.entries.len()
            );
            for e in &page.entries {
                assert!(
                    ids.insert(e.id),
                    "store conformance: {check}: entry {} came again on page {page_no}",
                    self.label(e)
                );
            }
            let remaining = expected.len().saturating_sub(seen.len());
            assert!(
                page.entries.len() == remaining.min(limit),
                "store conformance: {check}: page {page_no} has {} entries; with {remaining} \
                 left it must have {} (every page is full, up to the last)",
                page.entries.len(),
                remaining.min(limit),
            );
            seen.extend(page.entries);
            let more = seen.len() < expected.len();
            assert!(
                page.next_cursor.is_some() == more,
                "store conformance: {check}: page {page_no} has next_cursor {:?}, but {} entries \
                 follow; next_cursor must be set exactly when more follow",
                page.next_cursor,
                expected.len().saturating_sub(seen.len()),
            );
            match page.next_cursor {
                Some(cursor) => {
                    assert!(
                        page_no <= expected.len() + 1,
                        "store conformance: {check}: more pages than entries; the cursor does not advance"
                    );
                    query = query.cursor(cursor);
                }
                None => break,
            }
        }
        self.assert_entries(check, &query, &seen, expected);
    }

    async fn check_scan(&self) {
        // Storage order, and limit, cursor and order are ignored.
        let cursor = Cursor::after(&self.fixture[30]);
        for query in [
            Query::new(),
            Query::new().limit(3),
            Query::new().order(Order::OldestFirst).cursor(cursor),
            Query::new().order(Order::NewestFirst).cursor(cursor).limit(1),
        ] {
            let scanned = self.scan("scan", &query).await;
            self.assert_entries(
                "scan returns every entry in write order, ignoring limit, cursor and order",
                &query,
                &scanned,
                &self.fixture,
            );
        }
        let query = Query::new().tenant("nobody");
        let scanned = self.scan("scan matching nothing", &query).await;
        assert!(scanned.is_empty(), "store conformance: scan matching nothing returned entries");
    }

    async fn check_purge(&self) {
        let by_time = self.sorted(&|_| true, Order::OldestFirst);
        let cut = by_time[10].time;
        let older = by_time.iter().filter(|e| e.time < cut).count() as u64;
        let dry = match self.store.purge(cut, true).await {
            Ok(report) => report,
            Err(StoreError::Unsupported(_)) => return,
            Err(e) => panic!("store conformance: purge (dry run) failed: {e}"),
        };
        assert!(
            dry.removed <= older,
            "store conformance: a dry-run purge before entry {} counts {} entries, but only {older} \
             are older",
            self.label(&by_time[10]),
            dry.removed
        );
        let all = self.scan("after a dry-run purge", &Query::new()).await;
        self.assert_entries("a dry-run purge removes nothing", &Query::new(), &all, &self.fixture);

        let report = match self.store.purge(cut, false).await {
            Ok(report) => report,
            Err(e) => panic!("store conformance: purge failed: {e}"),
        };
        assert!(
            report.removed == dry.removed,
            "store conformance: purge removed {} entries, but its dry run counted {}",
            report.removed,
            dry.removed
        );
        let kept = self.scan("after purge", &Query::new()).await;
        assert!(
            kept.len() as u64 + report.removed == self.fixture.len() as u64,
            "store conformance: purge reported {} removed, but {} of {} entries remain",
            report.removed,
            kept.len(),
            self.fixture.len()
        );
        let removed: HashSet<Uuid> = {
            let kept: HashSet<Uuid> = kept.iter().map(|e| e.id).collect();
            self.fixture.iter().map(|e| e.id).filter(|id| !kept.contains(id)).collect()
        };
        let expected: Vec<AuditEvent> =
            self.fixture.iter().filter(|e| !removed.contains(&e.id)).cloned().collect();
        self.assert_entries("purge keeps the rest in write order", &Query::new(), &kept, &expected);
        for e in &self.fixture {
            assert!(
                e.time < cut || !removed.contains(&e.id),
                "store conformance: purge before {cut} removed entry {} of {}",
                self.label(e),
                e.time
            );
        }
    }
}
