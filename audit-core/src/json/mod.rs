//! JSON utilities that every layer above builds on: change paths, bounded
//! walks of deep values, the key order of `serde_json::Map`, and the RFC 3339
//! form entries store their times in.
//!
//! This is the bottom layer of the crate: it imports nothing from the rest of
//! it.

mod depth;
mod key_order;
mod path;
pub mod rfc3339_micros;

pub(crate) use depth::{deep_eq, deeper_than, drop_deep, is_container};
pub(crate) use key_order::MAP_KEYS_SORTED;
pub(crate) use path::{path_segments, push_index, push_key};
