//! The ids of the most recently written entries, for idempotent writes.

use std::collections::{HashSet, VecDeque};

use uuid::Uuid;

/// A set of ids with a fast hash. Ids are chosen by the application, not by
/// remote clients, so the hash needs no strong protection against chosen
/// keys; foldhash's is still seeded per process.
pub(crate) type IdSet = HashSet<Uuid, foldhash::fast::RandomState>;

/// The ids of the last `capacity` entries written, oldest evicted first.
///
/// The pipeline's ids are UUIDv7, which grow with time, so the window is
/// kept as a queue in the order written, and while that order is also
/// sorted, the queue is the whole index: remembering an id is a push and an
/// eviction (no hashing, and 16 bytes per id: 1.6 MB for the default window
/// of 100 000), and a lookup is a binary search of it. An id above the
/// largest one ever remembered is new without a lookup, which is the common
/// case. Only when an id arrives out of order (ids made by the application,
/// a clock step back, files of another service) is a hash set built beside
/// the queue; it is dropped again once the last id out of order has been
/// evicted.
#[derive(Debug)]
pub(crate) struct RecentIds {
    capacity: usize,
    /// Oldest first.
    order: VecDeque<Uuid>,
    /// How many ids must leave the front of `order` before it is sorted:
    /// `order[unsorted..]` is always sorted (strictly increasing).
    unsorted: usize,
    /// The ids of `order` as a set, while `unsorted > 0`.
    set: Option<IdSet>,
    /// The largest id ever remembered (evicted ones included).
    max: Option<Uuid>,
}

impl RecentIds {
    pub(crate) fn new(capacity: usize) -> Self {
        Self { capacity, order: VecDeque::new(), unsorted: 0, set: None, max: None }
    }

    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }

    pub(crate) fn len(&self) -> usize {
        self.order.len()
    }

    pub(crate) fn contains(&self, id: &Uuid) -> bool {
        // Every remembered id is at most `max`.
        if self.max.is_none_or(|max| *id > max) {
            return false;
        }
        match &self.set {
            Some(set) => set.contains(id),
            None => self.order.binary_search(id).is_ok(),
        }
    }

    fn raise_max(&mut self, id: Uuid) {
        if self.max.is_none_or(|max| id > max) {
            self.max = Some(id);
        }
    }

    /// Builds the set from the queue, when the queue stops being sorted.
    fn ensure_set(&mut self) {
        if self.set.is_none() {
            self.set = Some(self.order.iter().copied().collect());
        }
    }

    /// Remembers `id` as the newest, forgetting the oldest beyond capacity.
    pub(crate) fn insert(&mut self, id: Uuid) {
        if self.capacity == 0 || self.contains(&id) {
            return;
        }
        if self.order.back().is_some_and(|last| *last > id) {
            // Sorted again once this id has left the front.
            self.unsorted = self.order.len() + 1;
            self.ensure_set();
        }
        if let Some(set) = &mut self.set {
            set.insert(id);
        }
        self.order.push_back(id);
        self.raise_max(id);
        while self.order.len() > self.capacity {
            self.evict();
        }
    }

    fn evict(&mut self) {
        let Some(old) = self.order.pop_front() else { return };
        if let Some(set) = &mut self.set {
            set.remove(&old);
        }
        self.unsorted = self.unsorted.saturating_sub(1);
        if self.unsorted == 0 {
            self.set = None;
        }
    }

    /// Remembers `older` ids (oldest first) as written before every id known
    /// now, as far as capacity allows.
    pub(crate) fn prepend(&mut self, older: &[Uuid]) {
        for id in older.iter().rev() {
            if self.order.len() >= self.capacity {
                break;
            }
            if self.contains(id) {
                continue;
            }
            if self.unsorted > 0 {
                self.unsorted += 1;
            }
            if self.order.front().is_some_and(|first| first < id) {
                self.unsorted = self.unsorted.max(1);
                self.ensure_set();
            }
            if let Some(set) = &mut self.set {
                set.insert(*id);
            }
            self.order.push_front(*id);
            self.raise_max(*id);
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

    /// The window against a plain list searched from end to end: ids
    /// mostly increasing, some out of order, repeated or prepended.
    mod model {
        use proptest::prelude::*;

        use super::*;

        #[derive(Debug, Clone)]
        enum Op {
            /// The next id of an increasing clock.
            Next,
            /// Any id of a small range: out of order, often a repeat.
            Any(u8),
            /// Older ids (oldest first), as from a rotated file.
            Prepend(Vec<u8>),
        }

        fn op() -> impl Strategy<Value = Op> {
            prop_oneof![
                6 => Just(Op::Next),
                2 => any::<u8>().prop_map(Op::Any),
                1 => proptest::collection::vec(any::<u8>(), 0..6).prop_map(Op::Prepend),
            ]
        }

        proptest! {
            #[test]
            fn matches_a_list(capacity in 0usize..12, ops in proptest::collection::vec(op(), 0..80)) {
                let mut recent = RecentIds::new(capacity);
                let mut list: VecDeque<Uuid> = VecDeque::new();
                let mut clock = 256u128;
                for op in ops {
                    match op {
                        Op::Next | Op::Any(_) => {
                            let id = match op {
                                Op::Any(n) => Uuid::from_u128(u128::from(n) * 2),
                                _ => { clock += 1; Uuid::from_u128(clock) }
                            };
                            recent.insert(id);
                            if capacity > 0 && !list.contains(&id) {
                                list.push_back(id);
                                if list.len() > capacity { list.pop_front(); }
                            }
                        }
                        Op::Prepend(older) => {
                            let older: Vec<Uuid> =
                                older.iter().map(|n| Uuid::from_u128(u128::from(*n) * 2 + 1)).collect();
                            recent.prepend(&older);
                            for id in older.iter().rev() {
                                if list.len() >= capacity { break; }
                                if !list.contains(id) { list.push_front(*id); }
                            }
                        }
                    }
                    prop_assert_eq!(recent.len(), list.len());
                    prop_assert_eq!(recent.set.is_some(), recent.unsorted > 0);
                    let sorted = recent.order.range(recent.unsorted.min(recent.order.len())..);
                    prop_assert!(sorted.clone().zip(sorted.skip(1)).all(|(a, b)| a < b));
                    for n in 0..=clock {
                        let id = Uuid::from_u128(n);
                        prop_assert_eq!(recent.contains(&id), list.contains(&id), "id {}", n);
                    }
                }
            }
        }
    }
}
