//! The key order of `serde_json::Map`.

/// Whether `serde_json::Map` iterates in key order (a `BTreeMap`), which it
/// does unless some crate in the build turns on serde_json's
/// `preserve_order` feature.
///
/// The canonical JSON fast path and the flat diff rely on sorted keys; both
/// fall back to a general path when this is `false`.
pub(crate) static MAP_KEYS_SORTED: std::sync::LazyLock<bool> = std::sync::LazyLock::new(|| {
    let mut map = serde_json::Map::new();
    map.insert("b".to_owned(), serde_json::Value::Null);
    map.insert("a".to_owned(), serde_json::Value::Null);
    map.keys().next().is_some_and(|k| k == "a")
});
