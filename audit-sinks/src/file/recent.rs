//! The ids of the most recently written entries, for idempotent writes.

use std::collections::{HashSet, VecDeque};

use uuid::Uuid;

/// A set of ids with a fast hash: three lookups per entry written in a
/// window of 100 000 ids cost more than the `write(2)` of the entry with
/// SipHash. Ids are chosen by the application, not by remote clients, so
/// the hash needs no strong protection against chosen keys; foldhash's is
/// still seeded per process.
pub(crate) type IdSet = HashSet<Uuid, foldhash::fast::RandomState>;

/// The ids of the last `capacity` entries written, oldest evicted first.
///
/// Memory: about 40 bytes per id (the set and the queue), so 4 MB for the
/// default window of 100 000: too large for the CPU's nearer caches, so
/// every lookup is a trip to memory. The pipeline's ids are UUIDv7, which
/// grow with time, so an id above the largest one ever remembered is new
/// without a lookup; only the others are looked up.
#[derive(Debug)]
pub(crate) struct RecentIds {
    capacity: usize,
    set: IdSet,
    order: VecDeque<Uuid>,
    /// The largest id ever remembered (evicted ones included).
    max: Option<Uuid>,
}

impl RecentIds {
    pub(crate) fn new(capacity: usize) -> Self {
        Self { capacity, set: IdSet::default(), order: VecDeque::new(), max: None }
    }

    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }

    pub(crate) fn len(&self) -> usize {
        self.order.len()
    }

    pub(crate) fn contains(&self, id: &Uuid) -> bool {
        // Every remembered id is at most `max`.
        self.max.is_some_and(|max| *id <= max) && self.set.contains(id)
    }

    fn raise_max(&mut self, id: Uuid) {
        if self.max.is_none_or(|max| id > max) {
            self.max = Some(id);
        }
    }

    /// Remembers `id` as the newest, forgetting the oldest beyond capacity.
    pub(crate) fn insert(&mut self, id: Uuid) {
        if self.capacity == 0 || !self.set.insert(id) {
            return;
        }
        self.raise_max(id);
        self.order.push_back(id);
        while self.order.len() > self.capacity {
            if let Some(old) = self.order.pop_front() {
                self.set.remove(&old);
            }
        }
    }

    /// Remembers `older` ids (oldest first) as written before every id known
    /// now, as far as capacity allows.
    pub(crate) fn prepend(&mut self, older: &[Uuid]) {
        for id in older.iter().rev() {
            if self.order.len() >= self.capacity {
                break;
            }
            if self.set.insert(*id) {
                self.raise_max(*id);
                self.order.push_front(*id);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_newest_ids() {
        let ids: Vec<Uuid> = (1..=5).map(Uuid::from_u128).collect();
        let mut recent = RecentIds::new(3);
        for id in &ids {
            recent.insert(*id);
        }
        assert!(!recent.contains(&ids[1]));
        assert!(ids[2..].iter().all(|id| recent.contains(id)));
        recent.insert(ids[4]);
        assert_eq!(recent.len(), 3);
    }

    #[test]
    fn prepends_older_ids_up_to_capacity() {
        let mut recent = RecentIds::new(3);
        recent.insert(Uuid::from_u128(10));
        recent.prepend(&[Uuid::from_u128(1), Uuid::from_u128(2), Uuid::from_u128(3)]);
        assert_eq!(recent.len(), 3);
        assert!(recent.contains(&Uuid::from_u128(3)) && recent.contains(&Uuid::from_u128(2)));
        assert!(!recent.contains(&Uuid::from_u128(1)));
        // and the oldest is evicted first
        recent.insert(Uuid::from_u128(11));
        assert!(!recent.contains(&Uuid::from_u128(2)));
    }

    #[test]
    fn ids_out_of_order_are_looked_up() {
        let mut recent = RecentIds::new(2);
        recent.insert(Uuid::from_u128(5));
        recent.insert(Uuid::from_u128(3));
        assert!(recent.contains(&Uuid::from_u128(3)) && recent.contains(&Uuid::from_u128(5)));
        assert!(!recent.contains(&Uuid::from_u128(4)));
        assert!(!recent.contains(&Uuid::from_u128(6)));
        // Evicting the largest keeps it as the bound; lookups below it still work.
        recent.insert(Uuid::from_u128(1));
        assert!(!recent.contains(&Uuid::from_u128(5)));
        assert!(recent.contains(&Uuid::from_u128(1)) && recent.contains(&Uuid::from_u128(3)));
        recent.prepend(&[Uuid::from_u128(9)]);
        assert!(!recent.contains(&Uuid::from_u128(9)), "no room: not remembered");
    }

    #[test]
    fn zero_capacity_remembers_nothing() {
        let mut recent = RecentIds::new(0);
        recent.insert(Uuid::from_u128(1));
        assert!(!recent.contains(&Uuid::from_u128(1)));
    }
}
