//! Change paths: `settings.webhook_url`, `members[2].role`,
//! `labels["app.kubernetes.io/name"]` (see [`crate::diff`] for the syntax).

use serde_json::Value;

/// Appends an object key to a path, quoting it when it would be ambiguous.
pub(crate) fn push_key(path: &mut String, key: &str) {
    let needs_quotes = key.is_empty() || key.contains(['.', '[', ']', '"']);
    if needs_quotes {
        path.push('[');
        // `Value`'s `Display` writes a JSON string literal and cannot fail.
        path.push_str(&Value::String(key.to_owned()).to_string());
        path.push(']');
    } else {
        if !path.is_empty() {
            path.push('.');
        }
        path.push_str(key);
    }
}

/// Appends an array index to a path.
pub(crate) fn push_index(path: &mut String, index: usize) {
    use std::fmt::Write as _;
    // Writing to a `String` cannot fail.
    let _ = write!(path, "[{index}]");
}

/// Splits a change path back into its segments: object keys (unquoted) and
/// array indices (as their digits). Never fails: text that does not follow the
/// path syntax becomes a segment of its own.
pub(crate) fn path_segments(path: &str) -> Vec<String> {
    let mut segments = Vec::new();
    let mut current = String::new();
    // Whether the last segment ended with `]`, so that a following `.` does
    // not end an empty segment.
    let mut after_bracket = false;
    let mut chars = path.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match c {
            '.' => {
                if !(after_bracket && current.is_empty()) {
                    segments.push(std::mem::take(&mut current));
                }
                after_bracket = false;
            }
            '[' => {
                after_bracket = true;
                if !current.is_empty() {
                    segments.push(std::mem::take(&mut current));
                }
                let rest = &path[i + 1..];
                if rest.starts_with('"') {
                    // A quoted key: a JSON string literal up to its closing quote.
                    if let Some(end) = json_string_end(rest) {
                        let literal = &rest[..=end];
                        let key = serde_json::from_str::<String>(literal)
                            .unwrap_or_else(|_| literal.to_owned());
                        segments.push(key);
                        let skip_to = i + 1 + end + 1;
                        while chars.peek().is_some_and(|(j, _)| *j < skip_to) {
                            chars.next();
                        }
                        if chars.peek().is_some_and(|(_, c)| *c == ']') {
                            chars.next();
                        }
                        continue;
                    }
                }
                // An index (or anything else) up to the closing bracket.
                let mut inner = String::new();
                for (_, c) in chars.by_ref() {
                    if c == ']' {
                        break;
                    }
                    inner.push(c);
                }
                segments.push(inner);
            }
            c => {
                current.push(c);
                after_bracket = false;
            }
        }
    }
    if !current.is_empty() {
        segments.push(current);
    }
    segments
}

/// The byte offset of the quote that closes the JSON string literal starting
/// at the beginning of `s`.
fn json_string_end(s: &str) -> Option<usize> {
    let mut escaped = false;
    for (i, b) in s.bytes().enumerate().skip(1) {
        match b {
            _ if escaped => escaped = false,
            b'\\' => escaped = true,
            b'"' => return Some(i),
            _ => {}
        }
    }
    None
}
