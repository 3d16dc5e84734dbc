//! The serializer that writes a value straight into a [`Flat`] list of
//! leaves, bailing out on anything the fast path does not answer.

use std::fmt;

use super::{Flat, Leaf, Seg};
use serde::ser::{self, Serialize};
use serde_json::Value;

/// Why the fast path gave up; the caller takes the general path.
#[derive(Debug)]
pub(super) struct Bail;

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
pub(super) fn private_marker(name: &str) -> bool {
    name.starts_with("$serde_json")
}

/// Serializes a value into a [`Flat`], as the leaves of the `Value` that
/// `serde_json::to_value` would make.
pub(super) struct Flattener<'a> {
    pub(super) flat: &'a mut Flat,
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
pub(super) struct Array<'a> {
    pub(super) flat: &'a mut Flat,
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
pub(super) struct Object<'a> {
    pub(super) flat: &'a mut Flat,
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
pub(super) struct KeyText<'a> {
    pub(super) flat: &'a mut Flat,
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
