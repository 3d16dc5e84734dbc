//! Monthly partitions (UTC): which exist, and creating the missing ones.

use std::collections::BTreeSet;
use std::sync::{Mutex, MutexGuard, PoisonError};

use sqlx::PgExecutor;
use time::{Date, OffsetDateTime, UtcOffset};

/// A calendar month in UTC: one partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct Month {
    year: i32,
    month: time::Month,
}

impl Month {
    /// The month holding `time`.
    pub(crate) fn of(time: OffsetDateTime) -> Self {
        let utc = time.checked_to_offset(UtcOffset::UTC).unwrap_or(time);
        Self { year: utc.year(), month: utc.month() }
    }

    /// The month after this one.
    pub(crate) fn next(self) -> Self {
        match self.month {
            time::Month::December => Self { year: self.year + 1, month: time::Month::January },
            m => Self { year: self.year, month: m.next() },
        }
    }

    /// Midnight UTC of its first day.
    pub(crate) fn start(self) -> OffsetDateTime {
        Date::from_calendar_date(self.year, self.month, 1)
            .map(|d| d.midnight().assume_utc())
            .unwrap_or(OffsetDateTime::UNIX_EPOCH)
    }

    /// This month and the `ahead` months after it.
    pub(crate) fn with_next(self, ahead: u32) -> impl Iterator<Item = Month> {
        std::iter::successors(Some(self), |m| Some(m.next())).take(ahead as usize + 1)
    }
}

/// The partitions this process knows to exist, so that a batch needs no
/// extra round trip unless it holds a month not seen before.
///
/// A partition dropped behind our back (retention by another process) is
/// noticed when an insert fails for want of it: the sink then
/// [forgets](Self::forget) everything, creates the partitions again, and
/// retries.
#[derive(Debug, Default)]
pub(crate) struct Partitions {
    known: Mutex<BTreeSet<Month>>,
}

impl Partitions {
    fn known(&self) -> MutexGuard<'_, BTreeSet<Month>> {
        self.known.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The months of `months` not known to exist, without duplicates.
    pub(crate) fn missing(&self, months: impl IntoIterator<Item = Month>) -> Vec<Month> {
        let known = self.known();
        let wanted: BTreeSet<Month> = months.into_iter().collect();
        wanted.into_iter().filter(|m| !known.contains(m)).collect()
    }

    /// Forgets every known partition.
    pub(crate) fn forget(&self) {
        self.known().clear();
    }

    /// Creates the partitions of `months` that do not exist (one round
    /// trip), and remembers them. Returns how many were created.
    pub(crate) async fn ensure<'e>(
        &self,
        executor: impl PgExecutor<'e>,
        months: &[Month],
    ) -> Result<i32, sqlx::Error> {
        if months.is_empty() {
            return Ok(0);
        }
        let starts: Vec<OffsetDateTime> = months.iter().map(|m| m.start()).collect();
        let created: i32 = sqlx::query_scalar("SELECT audit_events_ensure_partitions($1)")
            .bind(&starts)
            .fetch_one(executor)
            .await?;
        self.known().extend(months.iter().copied());
        if created > 0 {
            tracing::debug!(created, "created audit_events partitions");
        }
        Ok(created)
    }
}

/// Whether an insert failed because no partition holds one of its rows.
pub(crate) fn is_missing_partition(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Database(db) => {
            db.code().as_deref() == Some("23514") && db.message().contains("no partition")
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    #[test]
    fn months_are_utc_and_roll_over() {
        let m = Month::of(datetime!(2025-12-31 23:30 -02:00));
        assert_eq!(m.start(), datetime!(2026-01-01 00:00 UTC));
        let next: Vec<OffsetDateTime> =
            Month::of(datetime!(2025-11-15 12:00 UTC)).with_next(2).map(Month::start).collect();
        assert_eq!(
            next,
            [
                datetime!(2025-11-01 0:00 UTC),
                datetime!(2025-12-01 0:00 UTC),
                datetime!(2026-01-01 0:00 UTC)
            ]
        );
    }

    #[test]
    fn missing_skips_known_months_and_duplicates() {
        let p = Partitions::default();
        let jan = Month::of(datetime!(2025-01-06 00:00 UTC));
        p.known().insert(jan);
        assert_eq!(p.missing([jan, jan.next(), jan.next()]), vec![jan.next()]);
        p.forget();
        assert_eq!(p.missing([jan]), vec![jan]);
    }
}
