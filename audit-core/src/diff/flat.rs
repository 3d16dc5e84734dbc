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
use std::fmt;

use serde::ser::{self, Serialize};
use serde_json::{Map, Value};

use crate::diff::Change;
use crate::json::{MAP_KEYS_SORTED, push_index, push_key};

/// The deepest nesting the fast path follows.
const MAX_FLAT_DEPTH: usize = 32;

/// Buffers larger than this (in bytes) are not kept for the next call.
const KEEP_BYTES: usize = 64 * 1024;

/// A step of a path: an object key (a range of [`Flat::text`]) or an index.
#[derive(Debug, Clone, Copy)]
enum Seg {
    Key(usize, usize),
    Index(usize),
}

/// What is at the end of a path.
#[derive(Debug)]
enum Leaf {
    /// A scalar other than a string, as `serde_json::to_value` makes it.
    Scalar(Value),
    /// A string: a range of [`Flat::text`].
    Str(usize, usize),
    EmptyArray,
    EmptyObject,
}

/// A leaf and its path (a range of [`Flat::segs`]).
#[derive(Debug)]
struct Entry {
    segs: (usize, usize),
    leaf: Leaf,
}

/// One side, flattened.
#[derive(Debug, Default)]
struct Flat {
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
fn cmp_paths(a: &Flat, x: usize, b: &Flat, y: usize) -> Ordering {
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

fn leaves_equal(a: &Flat, x: usize, b: &Flat, y: usize) -> bool {
    match (&a.entries[x].leaf, &b.entries[y].leaf) {
        (Leaf::Scalar(v), Leaf::Scalar(w)) => v == w,
        (Leaf::Str(s0, s1), Leaf::Str(t0, t1)) => a.text[*s0..*s1] == b.text[*t0..*t1],
        (Leaf::EmptyArray, Leaf::EmptyArray) | (Leaf::EmptyObject, Leaf::EmptyObject) => true,
        _ => false,
    }
}

/// The changes between two flattened values of the same shape, in the order
/// [`diff`](super::diff) finds them; `None` when the shapes differ.
fn compare(before: &mut Flat, after: &mut Flat) -> Option<Vec<Change>> {
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

/// Why the fast path gave up; the caller takes the general path.
#[derive(Debug)]
struct Bail;

impl fmt::Display for Bail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("left to the general path")
    }
}

impl std::error::Error for Bail {}

impl ser::Error for Bail {
    fn custom<T: fmt::Display>(_: T) -> Self {
        Bail
    }
}

/// Whether a name is one of serde_json's private markers (raw JSON,
/// arbitrary-precision numbers), which `to_value` treats specially.
fn private_marker(name: &str) -> bool {
    name.starts_with("$serde_json")
}

/// Serializes a value into a [`Flat`], as the leaves of the `Value` that
/// `serde_json::to_value` would make.
struct Flattener<'a> {
    flat: &'a mut Flat,
}

impl Flattener<'_> {
    fn scalar<T: Serialize>(self, v: T) -> Result<(), Bail> {
        let value = serde_json::to_value(v).map_err(|_| Bail)?;
        self.flat.leaf(Leaf::Scalar(value));
        Ok(())
    }
}

impl<'a> ser::Serializer for Flattener<'a> {
    type Ok = ();
    type Error = Bail;
    type SerializeSeq = Array<'a>;
    type SerializeTuple = Array<'a>;
    type SerializeTupleStruct = Array<'a>;
    type SerializeTupleVariant = Array<'a>;
    type SerializeMap = Object<'a>;
    type SerializeStruct = Object<'a>;
    type SerializeStructVariant = Object<'a>;

    fn serialize_bool(self, v: bool) -> Result<(), Bail> {
        self.scalar(v)
    }
    fn serialize_i8(self, v: i8) -> Result<(), Bail> {
        self.scalar(v)
    }
    fn serialize_i16(self, v: i16) -> Result<(), Bail> {
        self.scalar(v)
    }
    fn serialize_i32(self, v: i32) -> Result<(), Bail> {
        self.scalar(v)
    }
    fn serialize_i64(self, v: i64) -> Result<(), Bail> {
        self.scalar(v)
    }
    fn serialize_u8(self, v: u8) -> Result<(), Bail> {
        self.scalar(v)
    }
    fn serialize_u16(self, v: u16) -> Result<(), Bail> {
        self.scalar(v)
    }
    fn serialize_u32(self, v: u32) -> Result<(), Bail> {
        self.scalar(v)
    }
    fn serialize_u64(self, v: u64) -> Result<(), Bail> {
        self.scalar(v)
    }
    fn serialize_i128(self, _: i128) -> Result<(), Bail> {
        Err(Bail)
    }
    fn serialize_u128(self, _: u128) -> Result<(), Bail> {
        Err(Bail)
    }
    fn serialize_f32(self, v: f32) -> Result<(), Bail> {
        self.scalar(v)
    }
    fn serialize_f64(self, v: f64) -> Result<(), Bail> {
        self.scalar(v)
    }
    fn serialize_char(self, v: char) -> Result<(), Bail> {
        self.flat.str_leaf(v.encode_utf8(&mut [0; 4]));
        Ok(())
    }
    fn serialize_str(self, v: &str) -> Result<(), Bail> {
        self.flat.str_leaf(v);
        Ok(())
    }
    fn serialize_bytes(self, _: &[u8]) -> Result<(), Bail> {
        Err(Bail)
    }
    fn serialize_none(self) -> Result<(), Bail> {
        self.flat.leaf(Leaf::Scalar(Value::Null));
        Ok(())
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), Bail> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<(), Bail> {
        self.serialize_none()
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<(), Bail> {
        self.serialize_none()
    }
    fn serialize_unit_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
    ) -> Result<(), Bail> {
        self.serialize_str(variant)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        name: &'static str,
        value: &T,
    ) -> Result<(), Bail> {
        if private_marker(name) {
            return Err(Bail);
        }
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<(), Bail> {
        // `{"variant": value}`.
        let (start, end) = self.flat.push_text(variant);
        self.flat.enter(Seg::Key(start, end))?;
        value.serialize(Flattener { flat: &mut *self.flat })?;
        self.flat.path.pop();
        Ok(())
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Array<'a>, Bail> {
        Ok(Array { flat: self.flat, len: 0, variant: false })
    }
    fn serialize_tuple(self, len: usize) -> Result<Array<'a>, Bail> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_struct(self, _: &'static str, len: usize) -> Result<Array<'a>, Bail> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        _: usize,
    ) -> Result<Array<'a>, Bail> {
        // `{"variant": [..]}`.
        let (start, end) = self.flat.push_text(variant);
        self.flat.enter(Seg::Key(start, end))?;
        Ok(Array { flat: self.flat, len: 0, variant: true })
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Object<'a>, Bail> {
        Ok(Object::new(self.flat, false))
    }
    fn serialize_struct(self, name: &'static str, _: usize) -> Result<Object<'a>, Bail> {
        if private_marker(name) {
            return Err(Bail);
        }
        self.serialize_map(None)
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        _: usize,
    ) -> Result<Object<'a>, Bail> {
        // `{"variant": {..}}`.
        let (start, end) = self.flat.push_text(variant);
        self.flat.enter(Seg::Key(start, end))?;
        Ok(Object::new(self.flat, true))
    }
}

/// An array being flattened; `variant` when it sits under a variant's key.
struct Array<'a> {
    flat: &'a mut Flat,
    len: usize,
    variant: bool,
}

impl Array<'_> {
    fn element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Bail> {
        self.flat.enter(Seg::Index(self.len))?;
        value.serialize(Flattener { flat: &mut *self.flat })?;
        self.flat.path.pop();
        self.len += 1;
        Ok(())
    }

    fn finish(self) -> Result<(), Bail> {
        if self.len == 0 {
            self.flat.leaf(Leaf::EmptyArray);
        }
        if self.variant {
            self.flat.path.pop();
        }
        Ok(())
    }
}

impl ser::SerializeSeq for Array<'_> {
    type Ok = ();
    type Error = Bail;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Bail> {
        self.element(value)
    }
    fn end(self) -> Result<(), Bail> {
        self.finish()
    }
}

impl ser::SerializeTuple for Array<'_> {
    type Ok = ();
    type Error = Bail;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Bail> {
        self.element(value)
    }
    fn end(self) -> Result<(), Bail> {
        self.finish()
    }
}

impl ser::SerializeTupleStruct for Array<'_> {
    type Ok = ();
    type Error = Bail;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Bail> {
        self.element(value)
    }
    fn end(self) -> Result<(), Bail> {
        self.finish()
    }
}

impl ser::SerializeTupleVariant for Array<'_> {
    type Ok = ();
    type Error = Bail;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Bail> {
        self.element(value)
    }
    fn end(self) -> Result<(), Bail> {
        self.finish()
    }
}

/// An object being flattened; `variant` when it sits under a variant's key.
struct Object<'a> {
    flat: &'a mut Flat,
    /// Where this object's keys start in [`Flat::keys`].
    first_key: usize,
    variant: bool,
    /// The key whose value comes next (a range of [`Flat::text`]).
    key: Option<(usize, usize)>,
}

impl<'a> Object<'a> {
    fn new(flat: &'a mut Flat, variant: bool) -> Self {
        let first_key = flat.keys.len();
        Self { flat, first_key, variant, key: None }
    }

    fn field<T: Serialize + ?Sized>(&mut self, key: (usize, usize), value: &T) -> Result<(), Bail> {
        self.flat.enter(Seg::Key(key.0, key.1))?;
        value.serialize(Flattener { flat: &mut *self.flat })?;
        self.flat.path.pop();
        // After the value: objects inside it have taken their keys off.
        self.flat.keys.push(key);
        Ok(())
    }

    fn finish(self) -> Result<(), Bail> {
        if self.flat.keys.len() == self.first_key {
            self.flat.leaf(Leaf::EmptyObject);
        } else if self.flat.repeated_key(self.first_key) {
            return Err(Bail);
        }
        self.flat.keys.truncate(self.first_key);
        if self.variant {
            self.flat.path.pop();
        }
        Ok(())
    }
}

impl ser::SerializeMap for Object<'_> {
    type Ok = ();
    type Error = Bail;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), Bail> {
        self.key = Some(key.serialize(KeyText { flat: &mut *self.flat })?);
        Ok(())
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Bail> {
        let key = self.key.take().ok_or(Bail)?;
        self.field(key, value)
    }
    fn end(self) -> Result<(), Bail> {
        self.finish()
    }
}

impl ser::SerializeStruct for Object<'_> {
    type Ok = ();
    type Error = Bail;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        name: &'static str,
        value: &T,
    ) -> Result<(), Bail> {
        let key = self.flat.push_text(name);
        self.field(key, value)
    }
    fn end(self) -> Result<(), Bail> {
        self.finish()
    }
}

impl ser::SerializeStructVariant for Object<'_> {
    type Ok = ();
    type Error = Bail;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        name: &'static str,
        value: &T,
    ) -> Result<(), Bail> {
        let key = self.flat.push_text(name);
        self.field(key, value)
    }
    fn end(self) -> Result<(), Bail> {
        self.finish()
    }
}

/// Writes a map key into [`Flat::text`] as `to_value` spells it: strings as
/// they are, integers in decimal. Any other key is left to the general path.
struct KeyText<'a> {
    flat: &'a mut Flat,
}

impl KeyText<'_> {
    fn integer(self, v: impl fmt::Display) -> Result<(usize, usize), Bail> {
        use fmt::Write as _;
        let start = self.flat.text.len();
        // Writing to a `String` cannot fail.
        let _ = write!(self.flat.text, "{v}");
        Ok((start, self.flat.text.len()))
    }
}

impl ser::Serializer for KeyText<'_> {
    type Ok = (usize, usize);
    type Error = Bail;
    type SerializeSeq = ser::Impossible<(usize, usize), Bail>;
    type SerializeTuple = ser::Impossible<(usize, usize), Bail>;
    type SerializeTupleStruct = ser::Impossible<(usize, usize), Bail>;
    type SerializeTupleVariant = ser::Impossible<(usize, usize), Bail>;
    type SerializeMap = ser::Impossible<(usize, usize), Bail>;
    type SerializeStruct = ser::Impossible<(usize, usize), Bail>;
    type SerializeStructVariant = ser::Impossible<(usize, usize), Bail>;

    fn serialize_str(self, v: &str) -> Result<(usize, usize), Bail> {
        Ok(self.flat.push_text(v))
    }
    fn serialize_char(self, v: char) -> Result<(usize, usize), Bail> {
        Ok(self.flat.push_text(v.encode_utf8(&mut [0; 4])))
    }
    fn serialize_i8(self, v: i8) -> Result<(usize, usize), Bail> {
        self.integer(v)
    }
    fn serialize_i16(self, v: i16) -> Result<(usize, usize), Bail> {
        self.integer(v)
    }
    fn serialize_i32(self, v: i32) -> Result<(usize, usize), Bail> {
        self.integer(v)
    }
    fn serialize_i64(self, v: i64) -> Result<(usize, usize), Bail> {
        self.integer(v)
    }
    fn serialize_u8(self, v: u8) -> Result<(usize, usize), Bail> {
        self.integer(v)
    }
    fn serialize_u16(self, v: u16) -> Result<(usize, usize), Bail> {
        self.integer(v)
    }
    fn serialize_u32(self, v: u32) -> Result<(usize, usize), Bail> {
        self.integer(v)
    }
    fn serialize_u64(self, v: u64) -> Result<(usize, usize), Bail> {
        self.integer(v)
    }
    fn serialize_unit_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
    ) -> Result<(usize, usize), Bail> {
        self.serialize_str(variant)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        name: &'static str,
        value: &T,
    ) -> Result<(usize, usize), Bail> {
        if private_marker(name) {
            return Err(Bail);
        }
        value.serialize(self)
    }

    // Everything else: the general path decides (a string for some, an
    // error for the rest).
    fn serialize_bool(self, _: bool) -> Result<(usize, usize), Bail> {
        Err(Bail)
    }
    fn serialize_i128(self, _: i128) -> Result<(usize, usize), Bail> {
        Err(Bail)
    }
    fn serialize_u128(self, _: u128) -> Result<(usize, usize), Bail> {
        Err(Bail)
    }
    fn serialize_f32(self, _: f32) -> Result<(usize, usize), Bail> {
        Err(Bail)
    }
    fn serialize_f64(self, _: f64) -> Result<(usize, usize), Bail> {
        Err(Bail)
    }
    fn serialize_bytes(self, _: &[u8]) -> Result<(usize, usize), Bail> {
        Err(Bail)
    }
    fn serialize_none(self) -> Result<(usize, usize), Bail> {
        Err(Bail)
    }
    fn serialize_some<T: Serialize + ?Sized>(self, _: &T) -> Result<(usize, usize), Bail> {
        Err(Bail)
    }
    fn serialize_unit(self) -> Result<(usize, usize), Bail> {
        Err(Bail)
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<(usize, usize), Bail> {
        Err(Bail)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<(usize, usize), Bail> {
        Err(Bail)
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq, Bail> {
        Err(Bail)
    }
    fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, Bail> {
        Err(Bail)
    }
    fn serialize_tuple_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleStruct, Bail> {
        Err(Bail)
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, Bail> {
        Err(Bail)
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, Bail> {
        Err(Bail)
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Self::SerializeStruct, Bail> {
        Err(Bail)
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, Bail> {
        Err(Bail)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, HashMap};

    use proptest::prelude::*;
    use serde::Serialize;
    use serde_json::json;

    use super::*;

    /// What the general path answers.
    fn general<B: Serialize + ?Sized, A: Serialize + ?Sized>(b: &B, a: &A) -> Vec<Change> {
        super::super::diff(
            &serde_json::to_value(b).expect("before"),
            &serde_json::to_value(a).expect("after"),
        )
    }

    #[test]
    fn a_record_before_and_after_takes_the_fast_path() {
        // Fields declared out of key order, as most structs are.
        #[derive(Serialize)]
        struct Project {
            name: String,
            id: u64,
            visibility: Visibility,
            tags: Vec<&'static str>,
            owner: Option<&'static str>,
            limits: HashMap<&'static str, f64>,
            plan: Plan,
        }
        #[derive(Serialize)]
        #[serde(rename_all = "lowercase")]
        enum Visibility {
            Private,
            Public,
        }
        #[derive(Serialize)]
        enum Plan {
            Seats(u32),
            Custom { seats: u32, note: char },
        }
        let before = Project {
            name: "Apollo".into(),
            id: 7,
            visibility: Visibility::Private,
            tags: vec!["nasa", "mit"],
            owner: None,
            limits: [("cpu", 1.5), ("disk", 10.0), ("ram", f64::NAN)].into(),
            plan: Plan::Custom { seats: 3, note: 'a' },
        };
        let after = Project {
            name: "Apollo 11".into(),
            id: 7,
            visibility: Visibility::Public,
            tags: vec!["nasa", "jpl"],
            owner: Some("u_1"),
            limits: [("ram", 2.0), ("disk", 10.0), ("cpu", 2.0)].into(),
            plan: Plan::Custom { seats: 4, note: 'b' },
        };
        let fast = diff(&before, &after).expect("same shape: the fast path answers");
        assert_eq!(fast, general(&before, &after));
        let paths: Vec<&str> = fast.iter().map(|c| c.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "limits.cpu",
                "limits.ram",
                "name",
                "owner",
                "plan.Custom.note",
                "plan.Custom.seats",
                "tags[1]",
                "visibility"
            ]
        );
        assert_eq!(fast[1].before, Value::Null, "NaN is null, as to_value has it");

        let seats = (Plan::Seats(1), Plan::Seats(2));
        assert_eq!(diff(&seats.0, &seats.1), Some(general(&seats.0, &seats.1)));
    }

    #[test]
    fn integer_keys_are_written_in_decimal() {
        let before: BTreeMap<i64, &str> = [(-1, "a"), (10, "b"), (2, "c")].into();
        let after: BTreeMap<i64, &str> = [(-1, "a"), (10, "x"), (2, "c")].into();
        let fast = diff(&before, &after).expect("fast path");
        assert_eq!(fast, general(&before, &after));
        assert_eq!(fast, [Change::new("10", "b", "x")]);
    }

    #[test]
    fn what_the_fast_path_leaves_to_the_general_one() {
        // Different shapes.
        assert!(diff(&json!({"a": 1}), &json!({"a": 1, "b": 2})).is_none());
        assert!(diff(&json!([1, 2]), &json!([1])).is_none());
        assert!(diff(&json!({"a": {}}), &json!({"a": {"b": 1}})).is_none());
        // Repeated keys, which to_value would merge.
        struct Twice;
        impl Serialize for Twice {
            fn serialize<S: ser::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                use ser::SerializeMap as _;
                let mut m = s.serialize_map(None)?;
                m.serialize_entry("a", &1)?;
                m.serialize_entry("a", &2)?;
                m.end()
            }
        }
        assert!(diff(&Twice, &Twice).is_none());
        // Deep values, 128-bit integers, bytes, keys that are not strings.
        let deep = (0..MAX_FLAT_DEPTH + 1).fold(json!(1), |v, _| json!([v]));
        assert!(diff(&deep, &deep).is_none());
        assert!(diff(&1u128, &2u128).is_none());
        assert!(diff(serde_bytes_like(), serde_bytes_like()).is_none());
        let bool_keys: BTreeMap<bool, u8> = [(true, 1)].into();
        assert!(diff(&bool_keys, &bool_keys).is_none());
        // serde_json's own markers (raw JSON, arbitrary-precision numbers).
        struct Marked;
        impl Serialize for Marked {
            fn serialize<S: ser::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                use ser::SerializeStruct as _;
                let mut m = s.serialize_struct("$serde_json::private::RawValue", 1)?;
                m.serialize_field("$serde_json::private::RawValue", "1")?;
                m.end()
            }
        }
        assert!(diff(&Marked, &Marked).is_none());
    }

    /// A value that serializes as a byte string.
    fn serde_bytes_like() -> &'static Bytes {
        &Bytes
    }
    struct Bytes;
    impl Serialize for Bytes {
        fn serialize<S: ser::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            s.serialize_bytes(b"ab")
        }
    }

    #[test]
    fn a_diff_inside_serialization_takes_the_general_path() {
        struct Nested;
        impl Serialize for Nested {
            fn serialize<S: ser::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                // The buffers are taken by the outer call.
                let inner = diff(&json!({"x": 1}), &json!({"x": 2}));
                assert!(inner.is_none());
                s.serialize_str("n")
            }
        }
        assert_eq!(diff(&Nested, &Nested), Some(vec![]));
    }

    fn arb_scalar() -> impl Strategy<Value = Value> {
        prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            (-3..4i64).prop_map(Value::from),
            prop_oneof![Just(0.5f64), Just(-1.0), Just(1.0), Just(1e300)].prop_map(Value::from),
            "[ab\"\\\\.é]{0,3}".prop_map(Value::from),
            Just(json!([])),
            Just(json!({})),
        ]
    }

    fn arb_json() -> impl Strategy<Value = Value> {
        arb_scalar().prop_recursive(4, 32, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::btree_map("[ab.\\[\"]{0,3}", inner, 0..4)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    /// `value` with its `i`-th leaf (depth first) replaced by
    /// `replacements[i]` where that is `Some`: the same shape, other scalars.
    fn replace_leaves(value: &Value, replacements: &[Option<Value>], next: &mut usize) -> Value {
        match value {
            Value::Array(items) if !items.is_empty() => {
                Value::Array(items.iter().map(|v| replace_leaves(v, replacements, next)).collect())
            }
            Value::Object(map) if !map.is_empty() => Value::Object(
                map.iter()
                    .map(|(k, v)| (k.clone(), replace_leaves(v, replacements, next)))
                    .collect(),
            ),
            leaf => {
                let i = *next;
                *next += 1;
                match replacements.get(i) {
                    Some(Some(r)) => r.clone(),
                    _ => leaf.clone(),
                }
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1024))]

        /// Two values of the same shape: the fast path answers, and answers
        /// what the general path does.
        #[test]
        fn same_shapes_give_the_general_paths_changes(
            before in arb_json(),
            replacements in prop::collection::vec(prop::option::weighted(0.3, arb_scalar()), 0..40),
        ) {
            let after = replace_leaves(&before, &replacements, &mut 0);
            let fast = diff(&before, &after);
            prop_assert!(fast.is_some(), "{before} vs {after}");
            prop_assert_eq!(fast.unwrap(), general(&before, &after));
        }

        /// Any two values: when the fast path answers, it answers what the
        /// general path does.
        #[test]
        fn the_fast_path_never_disagrees(before in arb_json(), after in arb_json()) {
            if let Some(fast) = diff(&before, &after) {
                prop_assert_eq!(fast, general(&before, &after));
            }
        }
    }
}
