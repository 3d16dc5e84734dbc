//! How names are matched: normalization, glob patterns, and one automaton
//! over every plain key pattern.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum MatchKind {
    /// The normalized name equals the pattern.
    Whole,
    /// The normalized name contains the pattern.
    Contains,
}

/// A normalized name pattern.
#[derive(Debug, Clone)]
pub(super) struct Pattern {
    pub(super) normalized: String,
    pub(super) kind: MatchKind,
    pub(super) glob: bool,
}

impl Pattern {
    /// A pattern, or `None` if it normalizes to nothing (it would match
    /// every name).
    pub(super) fn new(pattern: &str, kind: MatchKind) -> Option<Self> {
        let normalized = normalize(pattern);
        if normalized.is_empty() {
            return None;
        }
        let glob = normalized.contains('*');
        Some(Self { normalized, kind, glob })
    }

    /// Whether an already normalized name matches.
    #[inline]
    pub(super) fn matches(&self, name: &[u8]) -> bool {
        let pattern = self.normalized.as_bytes();
        if self.glob {
            glob_match(pattern, name)
        } else {
            match self.kind {
                MatchKind::Whole => name == pattern,
                MatchKind::Contains => contains_bytes(name, pattern),
            }
        }
    }
}

pub(super) struct PatternList<'a>(pub(super) &'a [Pattern]);

impl fmt::Debug for PatternList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.0.iter().map(|p| &p.normalized)).finish()
    }
}

/// The plain key patterns as one deterministic automaton.
///
/// aho-corasick builds it; for ASCII names (nearly all keys, headers and
/// parameters) it is then read from a table of its own where the
/// normalization is folded into the byte classes: a separator leaves the
/// state as it is, an upper-case letter moves like its lower-case one, and a
/// non-ASCII byte stops the walk (the name is then normalized first, with
/// Unicode's lower-casing, and given to aho-corasick's automaton). So a key
/// is decided in one pass over its bytes, one table load per byte, with no
/// copy. No prefilter: keys are a few bytes long, and setting up a search
/// would cost more than the search.
pub(super) struct KeyAutomaton {
    pub(super) dfa: aho_corasick::dfa::DFA,
    pub(super) folded: Option<FoldedTable>,
}

/// [`KeyAutomaton`]'s table for ASCII input. States are numbered
/// premultiplied by the number of classes, so that a step is
/// `next[state + class[byte]]`.
pub(super) struct FoldedTable {
    pub(super) class: [u8; 256],
    pub(super) next: Box<[u16]>,
    pub(super) start: u16,
}

impl FoldedTable {
    /// A transition into a state where some pattern ends.
    const MATCH: u16 = u16::MAX;
    /// A non-ASCII byte.
    const BAIL: u16 = u16::MAX - 1;
    /// Class of the separators, which do not move the automaton.
    const SKIP: u8 = 0;
    /// Class of the non-ASCII bytes.
    const NON_ASCII: u8 = 1;
    /// Class of the ASCII bytes that are in no pattern.
    const OTHER: u8 = 2;

    /// `None` when the automaton has too many states for 16-bit numbers
    /// (patterns of thousands of bytes); aho-corasick's is used then.
    pub(super) fn new(dfa: &aho_corasick::dfa::DFA, patterns: &[&str]) -> Option<Self> {
        use aho_corasick::Anchored;
        use aho_corasick::automaton::Automaton as _;
        // Classes: the separators, the non-ASCII bytes, every other ASCII
        // byte that no pattern has (each leads back to the start), then one
        // per ASCII byte of the (normalized, so lower-case) patterns.
        let mut class = [Self::OTHER; 256];
        let mut reps: Vec<u8> = Vec::new();
        for &b in patterns.iter().flat_map(|p| p.as_bytes()) {
            if b.is_ascii() && class[usize::from(b)] == Self::OTHER {
                reps.push(b);
                class[usize::from(b)] = u8::try_from(reps.len() + 2).ok()?;
            }
        }
        for b in 0..=255u8 {
            if matches!(b, b'_' | b'-' | b'.' | b' ') {
                class[usize::from(b)] = Self::SKIP;
            } else if !b.is_ascii() {
                class[usize::from(b)] = Self::NON_ASCII;
            } else if b.is_ascii_uppercase() {
                class[usize::from(b)] = class[usize::from(b.to_ascii_lowercase())];
            }
        }
        let stride = reps.len() + 3;
        let start = dfa.start_state(Anchored::No).ok()?;
        // Breadth-first over the states reachable from the start by ASCII
        // bytes; a match ends the walk, so match states need no row.
        let mut ids = std::collections::HashMap::new();
        let mut order = vec![start];
        ids.insert(start, 0u16);
        let mut next: Vec<u16> = Vec::new();
        let mut i = 0;
        while let Some(&sid) = order.get(i) {
            let row = next.len();
            next.resize(row + stride, Self::BAIL);
            next[row + usize::from(Self::SKIP)] = u16::try_from(row).ok()?;
            next[row + usize::from(Self::OTHER)] = 0;
            for (k, &b) in reps.iter().enumerate() {
                let to = dfa.next_state(Anchored::No, sid, b);
                let id = if dfa.is_match(to) {
                    Self::MATCH
                } else if let Some(&id) = ids.get(&to) {
                    id
                } else {
                    let id =
                        u16::try_from(order.len() * stride).ok().filter(|&id| id < Self::BAIL)?;
                    ids.insert(to, id);
                    order.push(to);
                    id
                };
                next[row + k + 3] = id;
            }
            i += 1;
        }
        Some(Self { class, next: next.into_boxed_slice(), start: 0 })
    }

    /// Whether `name`, normalized, contains a pattern; `None` at a
    /// non-ASCII byte.
    #[inline]
    pub(super) fn contains(&self, name: &[u8]) -> Option<bool> {
        let mut state = self.start;
        for &b in name {
            state = self.next[usize::from(state) + usize::from(self.class[usize::from(b)])];
            if state >= Self::BAIL {
                return (state == Self::MATCH).then_some(true);
            }
        }
        Some(false)
    }
}

impl KeyAutomaton {
    /// `None` only for patterns far beyond any realistic size; they then
    /// stay checked one by one.
    pub(super) fn new(patterns: &[&str]) -> Option<Self> {
        let dfa = aho_corasick::dfa::DFA::builder()
            .match_kind(aho_corasick::MatchKind::Standard)
            .start_kind(aho_corasick::StartKind::Unanchored)
            .prefilter(false)
            .build(patterns)
            .ok()?;
        let folded = FoldedTable::new(&dfa, patterns);
        Some(Self { dfa, folded })
    }

    /// Whether the normalized form of `name` contains a pattern, decided
    /// while the bytes are read. `None` when `name` is not ASCII (the
    /// normalization is Unicode-aware then) and no pattern was found before
    /// its first non-ASCII byte.
    #[inline]
    pub(super) fn contains(&self, name: &[u8]) -> Option<bool> {
        if let Some(table) = &self.folded {
            return table.contains(name);
        }
        if !name.is_ascii() {
            return None;
        }
        let normalized = name
            .iter()
            .filter(|b| !matches!(b, b'_' | b'-' | b'.' | b' '))
            .map(u8::to_ascii_lowercase);
        Some(self.finds(normalized))
    }

    /// Whether already normalized bytes (any UTF-8) contain a pattern.
    pub(super) fn contains_exact(&self, normalized: &[u8]) -> bool {
        // Normalized ASCII reads the same through the folded table.
        match self.folded.as_ref().and_then(|t| t.contains(normalized)) {
            Some(found) => found,
            None => self.finds(normalized.iter().copied()),
        }
    }

    /// Runs aho-corasick's automaton over `bytes`, stopping at the first match.
    pub(super) fn finds(&self, bytes: impl Iterator<Item = u8>) -> bool {
        use aho_corasick::automaton::Automaton as _;
        let dfa = &self.dfa;
        let Ok(mut sid) = dfa.start_state(aho_corasick::Anchored::No) else { return false };
        for b in bytes {
            sid = dfa.next_state(aho_corasick::Anchored::No, sid, b);
            if dfa.is_special(sid) && dfa.is_match(sid) {
                return true;
            }
        }
        false
    }
}

/// Calls `f` with the normalized name, without allocating for the short
/// ASCII names that nearly all keys and headers are.
pub(super) fn with_normalized<R>(name: &str, f: impl FnOnce(&[u8]) -> R) -> R {
    const INLINE: usize = 64;
    if name.len() <= INLINE && name.is_ascii() {
        let mut buf = [0u8; INLINE];
        let mut len = 0;
        for b in name.bytes().filter(|b| !matches!(b, b'_' | b'-' | b'.' | b' ')) {
            buf[len] = b.to_ascii_lowercase();
            len += 1;
        }
        f(&buf[..len])
    } else {
        f(normalize(name).as_bytes())
    }
}

/// Lowercases and removes `_`, `-`, `.` and spaces.
pub(super) fn normalize(name: &str) -> String {
    name.chars()
        .filter(|c| !matches!(c, '_' | '-' | '.' | ' '))
        .flat_map(char::to_lowercase)
        .collect()
}

/// Whether `haystack` contains `needle`: compared in place for the short
/// names matched here, where setting up `memmem`'s searcher would cost
/// more than the search.
pub(super) fn contains_bytes(haystack: &[u8], needle: &[u8]) -> bool {
    if needle.is_empty() {
        true
    } else if haystack.len() <= 64 {
        haystack.windows(needle.len()).any(|w| w == needle)
    } else {
        memchr::memmem::find(haystack, needle).is_some()
    }
}

/// Whether `text` matches `pattern` whole, where `*` matches any run of bytes.
/// Iterative, with backtracking to the last `*` only: O(pattern × text) at worst.
pub(super) fn glob_match(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() && pattern[p] == b'*' {
            star = Some((p, t));
            p += 1;
        } else if p < pattern.len() && pattern[p] == text[t] {
            p += 1;
            t += 1;
        } else if let Some((sp, st)) = star {
            p = sp + 1;
            t = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|&b| b == b'*')
}

/// Decodes a parameter name, repeatedly, so that a name encoded twice
/// (`api%255Fkey`) is still recognised.
/// Percent-decodes a query component (and `+` as a space if `plus` is set).
/// Invalid escapes are kept as they are; invalid UTF-8 is replaced.
pub(super) fn percent_decode(s: &str, plus: bool) -> String {
    let spaced;
    let s = if plus && s.contains('+') {
        spaced = s.replace('+', " ");
        spaced.as_str()
    } else {
        s
    };
    percent_encoding::percent_decode_str(s).decode_utf8_lossy().into_owned()
}

pub(super) fn decode_name(name: &str) -> String {
    let mut current = percent_decode(name, true);
    for _ in 0..3 {
        if !current.contains('%') {
            break;
        }
        let next = percent_decode(&current, false);
        if next == current {
            break;
        }
        current = next;
    }
    current
}
