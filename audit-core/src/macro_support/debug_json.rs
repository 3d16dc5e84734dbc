//! A gRPC message's `Debug` output read back as JSON.

use serde_json::{Map, Value};

/// Reads `Debug` output (`{:?}` of structs, tuples, enums, options, lists,
/// maps, strings, numbers) back as JSON, so that a message that is not
/// `Serialize` is still redacted field by field: `Req { name: "a", tags: ["x"],
/// parent: Some(Ref { id: 7 }), kind: Admin }` becomes `{"name": "a", "tags":
/// ["x"], "parent": {"id": 7}, "kind": "Admin"}`. Type names are dropped,
/// `None` and `()` are `null`, a newtype is its field, another tuple struct
/// or a tuple an array.
///
/// Text that does not parse is never stored as it is (it could hold a
/// secret that no key marks): it becomes the string
/// `"[omitted: unparseable Debug output]"`.
pub fn debug_to_json(text: &str) -> Value {
    let mut p = DebugParser { s: text.as_bytes(), i: 0, depth: 0 };
    match p.value() {
        Some(v) if p.at_end() => v,
        _ => Value::String(UNPARSEABLE_DEBUG.to_owned()),
    }
}

/// What [`debug_to_json`] stores for text it cannot read.
pub const UNPARSEABLE_DEBUG: &str = "[omitted: unparseable Debug output]";

pub(super) struct DebugParser<'a> {
    s: &'a [u8],
    i: usize,
    depth: usize,
}

impl DebugParser<'_> {
    const MAX_DEPTH: usize = 64;

    fn ws(&mut self) {
        while self.s.get(self.i).is_some_and(u8::is_ascii_whitespace) {
            self.i += 1;
        }
    }

    fn at_end(&mut self) -> bool {
        self.ws();
        self.i == self.s.len()
    }

    fn peek(&mut self) -> Option<u8> {
        self.ws();
        self.s.get(self.i).copied()
    }

    fn eat(&mut self, c: u8) -> bool {
        if self.peek() == Some(c) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    fn value(&mut self) -> Option<Value> {
        self.depth += 1;
        if self.depth > Self::MAX_DEPTH {
            return None;
        }
        let v = match self.peek()? {
            b'"' => self.string().map(Value::String),
            b'\'' => self.char().map(Value::String),
            b'[' => {
                self.i += 1;
                self.list(b']').map(Value::Array)
            }
            b'(' => {
                self.i += 1;
                self.list(b')').map(|items| match items.len() {
                    0 => Value::Null,
                    _ => Value::Array(items),
                })
            }
            b'{' => {
                self.i += 1;
                self.map()
            }
            c if c == b'-' || c.is_ascii_digit() => self.number(),
            c if c.is_ascii_alphabetic() || c == b'_' => self.named(),
            _ => None,
        };
        self.depth -= 1;
        v
    }

    /// `Name`, `Name { .. }`, `Name(..)`, `true`, `None`, `inf`...
    fn named(&mut self) -> Option<Value> {
        let name = self.ident()?;
        match self.peek() {
            Some(b'{') => {
                self.i += 1;
                self.fields()
            }
            Some(b'(') => {
                self.i += 1;
                let mut items = self.list(b')')?;
                Some(match items.len() {
                    0 => Value::Null,
                    1 => items.pop().unwrap_or(Value::Null),
                    _ => Value::Array(items),
                })
            }
            _ => Some(match name.as_str() {
                "true" => Value::Bool(true),
                "false" => Value::Bool(false),
                "None" => Value::Null,
                _ => Value::String(name),
            }),
        }
    }

    /// An identifier, or a path (`a::B`).
    fn ident(&mut self) -> Option<String> {
        self.ws();
        let start = self.i;
        loop {
            while self.s.get(self.i).is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'_') {
                self.i += 1;
            }
            if self.i > start && self.s[self.i..].starts_with(b"::") {
                self.i += 2;
            } else {
                break;
            }
        }
        (self.i > start).then(|| String::from_utf8_lossy(&self.s[start..self.i]).into_owned())
    }

    /// `{ a: 1, b: "x", .. }` after the `{`.
    fn fields(&mut self) -> Option<Value> {
        let mut map = Map::new();
        loop {
            if self.eat(b'}') {
                return Some(Value::Object(map));
            }
            if self.eat(b'.') {
                if !self.eat(b'.') || !self.eat(b'}') {
                    return None;
                }
                return Some(Value::Object(map));
            }
            let key = self.ident()?;
            if !self.eat(b':') {
                return None;
            }
            let value = self.value()?;
            map.insert(key.trim_start_matches("r#").to_owned(), value);
            if !self.eat(b',') {
                return self.eat(b'}').then_some(Value::Object(map));
            }
        }
    }

    /// `{k: v, ..}` (a map) after the `{`; keys become strings.
    fn map(&mut self) -> Option<Value> {
        let mut map = Map::new();
        loop {
            if self.eat(b'}') {
                return Some(Value::Object(map));
            }
            let key = match self.value()? {
                Value::String(s) => s,
                other => other.to_string(),
            };
            if !self.eat(b':') {
                return None;
            }
            map.insert(key, self.value()?);
            if !self.eat(b',') {
                return self.eat(b'}').then_some(Value::Object(map));
            }
        }
    }

    fn list(&mut self, close: u8) -> Option<Vec<Value>> {
        let mut items = Vec::new();
        loop {
            if self.eat(close) {
                return Some(items);
            }
            items.push(self.value()?);
            if !self.eat(b',') {
                return self.eat(close).then_some(items);
            }
        }
    }

    fn number(&mut self) -> Option<Value> {
        self.ws();
        let start = self.i;
        if self.s.get(self.i) == Some(&b'-') {
            self.i += 1;
            if self.s[self.i..].starts_with(b"inf") {
                self.i += 3;
                return Some(Value::String("-inf".into()));
            }
        }
        while self
            .s
            .get(self.i)
            .is_some_and(|c| c.is_ascii_digit() || matches!(c, b'.' | b'e' | b'E' | b'+' | b'-'))
        {
            self.i += 1;
        }
        let text = std::str::from_utf8(&self.s[start..self.i]).ok()?;
        if let Ok(n) = text.parse::<i64>() {
            return Some(Value::from(n));
        }
        if let Ok(n) = text.parse::<u64>() {
            return Some(Value::from(n));
        }
        let f = text.parse::<f64>().ok()?;
        Some(
            serde_json::Number::from_f64(f)
                .map_or_else(|| Value::String(text.to_owned()), Value::Number),
        )
    }

    fn string(&mut self) -> Option<String> {
        self.i += 1; // the opening quote
        let mut out = Vec::new();
        loop {
            let c = *self.s.get(self.i)?;
            self.i += 1;
            match c {
                b'"' => return String::from_utf8(out).ok(),
                b'\\' => self.escape(&mut out)?,
                _ => out.push(c),
            }
        }
    }

    fn char(&mut self) -> Option<String> {
        self.i += 1; // the opening quote
        let mut out = Vec::new();
        loop {
            let c = *self.s.get(self.i)?;
            self.i += 1;
            match c {
                b'\'' if !out.is_empty() => return String::from_utf8(out).ok(),
                b'\\' => self.escape(&mut out)?,
                _ => out.push(c),
            }
        }
    }

    fn escape(&mut self, out: &mut Vec<u8>) -> Option<()> {
        let c = *self.s.get(self.i)?;
        self.i += 1;
        let ch = match c {
            b'n' => '\n',
            b't' => '\t',
            b'r' => '\r',
            b'0' => '\0',
            b'\\' | b'"' | b'\'' => char::from(c),
            b'u' => {
                if self.s.get(self.i) != Some(&b'{') {
                    return None;
                }
                let end = self.i + self.s[self.i..].iter().position(|&b| b == b'}')?;
                let hex = std::str::from_utf8(&self.s[self.i + 1..end]).ok()?;
                self.i = end + 1;
                char::from_u32(u32::from_str_radix(hex, 16).ok()?)?
            }
            _ => return None,
        };
        let mut buf = [0; 4];
        out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
        Some(())
    }
}
