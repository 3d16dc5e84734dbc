//! The fast path of [`diff_serialize`](super::diff_serialize): both values are
//! serialized straight into flat lists of leaves (a scalar or an empty
//! container, with the path of keys and indices that leads to it) in buffers
//! reused by the thread, and the lists are compared. Only the changes
//! allocate; no `serde_json::Value` of either side is built.
//!
//! It answers only when its answer is the one the general path ([`diff`] of
//! both sides converted with `serde_json::to_value`) gives:
//!
//! - both sides have the same shape: the same paths to their leaves, so that
//!   no field is missing on one side and no array changes length;
//! - `serde_json::Map` sorts its keys (see [`MAP_KEYS_SORTED`]): the leaves
//!   are sorted by path, which is then the order [`diff`] walks a sorted map
//!   in, whatever order the fields were serialized in;
//! - nothing is nested deeper than [`MAX_FLAT_DEPTH`], no key repeats within
//!   an object, map keys are strings or integers, and the values use nothing
//!   that `to_value` treats specially (raw JSON, arbitrary-precision numbers,
//!   128-bit integers, byte strings).
//!
//! Anything else, an error from a `Serialize` impl included, returns `None`
//! and the caller takes the general path, which produces the same result for
//! what the fast path does handle; a property test in `tests/diff.rs` holds
//! the two to that.
//!
//! [`diff`]: super::diff
//! [`MAP_KEYS_SORTED`]: crate::json::MAP_KEYS_SORTED

use std::cell::RefCell;
use std::cmp::Ordering;

use serde::ser::Serialize;
use serde_json::{Map, Value};

use crate::{diff::Change, json::MAP_KEYS_SORTED, json::push_index, json::push_key};

mod serializer;

use serializer::{Bail, Flattener};

/// The deepest nesting the fast path follows.
pub(super) const MAX_FLAT_DEPTH: usize = 32;

/// Buffers larger than this (in bytes) are not kept for the next call.
pub(super) const KEEP_BYTES: usize = 64 * 1024;

/// A step of a path: an object key (a range of [`Flat::text`]) or an index.
#[derive(Debug, Clone, Copy)]
pub(super) enum Seg {
    Key(usize, usize),
    Index(usize),
}

/// What is at the end of a path.
#[derive(Debug)]
pub(super) enum Leaf {
    /// A scalar other than a string, as `serde_json::to_value` makes it.
    Scalar(Value),
    /// A string: a range of [`Flat::text`].
    Str(usize, usize),
    EmptyArray,
    EmptyObject,
}

/// A leaf and its path (a range of [`Flat::segs`]).
#[derive(Debug)]
pub(super) struct Entry {
    segs: (usize, usize),
    leaf: Leaf,
}

/// One side, flattened.
#[derive(Debug, Default)]
pub(super) struct Flat {
    /// Keys and strings.
    text: String,
    /// The paths of all entries, one after the other.
    segs: Vec<Seg>,
    entries: Vec<Entry>,
    /// The path being serialized.
    path: Vec<Seg>,
    /// The keys of the objects being serialized (each object's from where
    /// it started), to find a key that repeats.
    keys: Vec<(usize, usize)>,
    /// Entry indices, for sorting.
    order: Vec<usize>,
}

impl Flat {
    fn clear(&mut self) {
        let held = self.text.capacity()
            + size_of::<Seg>() * (self.segs.capacity() + self.path.capacity())
            + size_of::<Entry>() * self.entries.capacity()
            + size_of::<(usize, usize)>() * self.keys.capacity()
            + size_of::<usize>() * self.order.capacity();
        if held > KEEP_BYTES {
            *self = Self::default();
        } else {
            self.text.clear();
            self.segs.clear();
            self.entries.clear();
            self.path.clear();
            self.keys.clear();
            self.order.clear();
        }
    }

    fn fill<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Bail> {
        self.clear();
        value.serialize(Flattener { flat: self })
    }

    /// Sorts [`Self::order`] (entry indices) by path.
    fn sort(&mut self) {
        let mut order = std::mem::take(&mut self.order);
        order.clear();
        order.extend(0..self.entries.len());
        let this = &*self;
        order.sort_unstable_by(|&x, &y| cmp_paths(this, x, this, y));
        self.order = order;
    }

    /// Whether a key repeats among the keys of one object (from `first` in
    /// [`Self::keys`]). `to_value` would keep one of them; that is left to the
    /// general path.
    fn repeated_key(&self, first: usize) -> bool {
        let keys = &self.keys[first..];
        keys.iter().enumerate().any(|(i, &(s0, s1))| {
            let key = self.key(s0, s1);
            keys[i + 1..].iter().any(|&(t0, t1)| t1 - t0 == s1 - s0 && self.key(t0, t1) == key)
        })
    }

    fn push_text(&mut self, s: &str) -> (usize, usize) {
        let start = self.text.len();
        self.text.push_str(s);
        (start, self.text.len())
    }

    fn leaf(&mut self, leaf: Leaf) {
        let start = self.segs.len();
        self.segs.extend_from_slice(&self.path);
        self.entries.push(Entry { segs: (start, self.segs.len()), leaf });
    }

    fn str_leaf(&mut self, s: &str) {
        let (start, end) = self.push_text(s);
        self.leaf(Leaf::Str(start, end));
    }

    fn enter(&mut self, seg: Seg) -> Result<(), Bail> {
        if self.path.len() >= MAX_FLAT_DEPTH {
            return Err(Bail);
        }
        self.path.push(seg);
        Ok(())
    }

    fn path_of(&self, entry: usize) -> &[Seg] {
        let (start, end) = self.entries[entry].segs;
        &self.segs[start..end]
    }

    fn key(&self, start: usize, end: usize) -> &str {
        &self.text[start..end]
    }

    fn value(&self, entry: usize) -> Value {
        match &self.entries[entry].leaf {
            Leaf::Scalar(v) => v.clone(),
            Leaf::Str(start, end) => Value::String(self.text[*start..*end].to_owned()),
            Leaf::EmptyArray => Value::Array(Vec::new()),
            Leaf::EmptyObject => Value::Object(Map::new()),
        }
    }

    /// The path in the syntax of [`Change::path`].
    fn path_string(&self, entry: usize) -> String {
        let mut path = String::new();
        for seg in self.path_of(entry) {
            match *seg {
                Seg::Key(start, end) => push_key(&mut path, self.key(start, end)),
                Seg::Index(i) => push_index(&mut path, i),
            }
        }
        path
    }
}

/// Orders paths as [`diff`](super::diff) walks two values of the same shape
/// whose maps sort their keys.
pub(super) fn cmp_paths(a: &Flat, x: usize, b: &Flat, y: usize) -> Ordering {
    let (p, q) = (a.path_of(x), b.path_of(y));
    for (s, t) in p.iter().zip(q) {
        let o = match (*s, *t) {
            (Seg::Key(s0, s1), Seg::Key(t0, t1)) => a.key(s0, s1).cmp(b.key(t0, t1)),
            (Seg::Index(i), Seg::Index(j)) => i.cmp(&j),
            (Seg::Index(_), Seg::Key(..)) => Ordering::Less,
            (Seg::Key(..), Seg::Index(_)) => Ordering::Greater,
        };
        if o != Ordering::Equal {
            return o;
        }
    }
    p.len().cmp(&q.len())
}

pub(super) fn leaves_equal(a: &Flat, x: usize, b: &Flat, y: usize) -> bool {
    match (&a.entries[x].leaf, &b.entries[y].leaf) {
        (Leaf::Scalar(v), Leaf::Scalar(w)) => v == w,
        (Leaf::Str(s0, s1), Leaf::Str(t0, t1)) => a.text[*s0..*s1] == b.text[*t0..*t1],
        (Leaf::EmptyArray, Leaf::EmptyArray) | (Leaf::EmptyObject, Leaf::EmptyObject) => true,
        _ => false,
    }
}

/// The changes between two flattened values of the same shape, in the order
/// [`diff`](super::diff) finds them; `None` when the shapes differ.
pub(super) fn compare(before: &mut Flat, after: &mut Flat) -> Option<Vec<Change>> {
    let n = before.entries.len();
    if after.entries.len() != n {
        return None;
    }
    let change = |b: &Flat, x: usize, a: &Flat, y: usize| Change {
        path: b.path_string(x),
        before: b.value(x),
        after: a.value(y),
    };
    // Two values of one type serialize their leaves in the same order: then
    // only the changes need sorting.
    if (0..n).all(|i| cmp_paths(before, i, after, i) == Ordering::Equal) {
        let mut changed = std::mem::take(&mut before.order);
        changed.clear();
        changed.extend((0..n).filter(|&i| !leaves_equal(before, i, after, i)));
        changed.sort_unstable_by(|&x, &y| cmp_paths(before, x, before, y));
        let changes = changed.iter().map(|&i| change(before, i, after, i)).collect();
        before.order = changed;
        return Some(changes);
    }
    // Maps whose entries come in another order (a `HashMap`): sort both.
    before.sort();
    after.sort();
    let mut changes = Vec::new();
    for (&x, &y) in before.order.iter().zip(&after.order) {
        if cmp_paths(before, x, after, y) != Ordering::Equal {
            return None;
        }
        if !leaves_equal(before, x, after, y) {
            changes.push(change(before, x, after, y));
        }
    }
    Some(changes)
}

/// The changes between `before` and `after` as [`diff_serialize`] finds them,
/// or `None` when the general path must answer (see the module docs).
///
/// [`diff_serialize`]: super::diff_serialize
pub(super) fn diff<B: Serialize + ?Sized, A: Serialize + ?Sized>(
    before: &B,
    after: &A,
) -> Option<Vec<Change>> {
    thread_local! {
        static FLATS: RefCell<(Flat, Flat)> = RefCell::default();
    }
    if !*MAP_KEYS_SORTED {
        return None;
    }
    FLATS
        .try_with(|flats| {
            // Taken already: a `Serialize` impl that diffs inside its own
            // serialization. The general path copes.
            let mut flats = flats.try_borrow_mut().ok()?;
            let (b, a) = &mut *flats;
            b.fill(before).ok()?;
            a.fill(after).ok()?;
            compare(b, a)
        })
        .ok()
        .flatten()
}

#[cfg(test)]
mod tests;
