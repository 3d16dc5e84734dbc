//! The tokens of the text syntax, with the column each starts at.

use super::error::{ParseError, quote};

/// A token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Tok {
    LParen,
    RParen,
    Comma,
    Eq,
    Ne,
    Tilde,
    Lt,
    Le,
    Gt,
    Ge,
    /// `..`, between the ends of a time range.
    DotDot,
    /// A bare word: a field, a keyword or an unquoted value.
    Word(String),
    /// A quoted string, escapes resolved.
    Str(String),
}

impl Tok {
    /// The token as error messages name it.
    pub(super) fn describe(&self) -> String {
        let symbol = match self {
            Self::LParen => "(",
            Self::RParen => ")",
            Self::Comma => ",",
            Self::Eq => "=",
            Self::Ne => "!=",
            Self::Tilde => "~",
            Self::Lt => "<",
            Self::Le => "<=",
            Self::Gt => ">",
            Self::Ge => ">=",
            Self::DotDot => "..",
            Self::Word(word) => return quote(word),
            Self::Str(text) => return format!("the string {}", quote(text)),
        };
        format!("\"{symbol}\"")
    }

    /// Whether this is the bare word `keyword`, in any case.
    pub(super) fn is_keyword(&self, keyword: &str) -> bool {
        matches!(self, Self::Word(w) if w.eq_ignore_ascii_case(keyword))
    }
}

/// A token and the 1-based column (in characters) it starts at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Token {
    pub(super) tok: Tok,
    pub(super) column: usize,
}

/// Whether `c` can be part of a bare word (a `..` also ends one).
pub(crate) fn is_word_char(c: char) -> bool {
    !c.is_whitespace()
        && !c.is_control()
        && !matches!(c, '(' | ')' | ',' | '"' | '\'' | '=' | '!' | '~' | '<' | '>')
}

/// Splits the text into tokens.
pub(super) fn lex(input: &str) -> Result<Vec<Token>, ParseError> {
    let chars: Vec<char> = input.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let column = i + 1;
        let next = chars.get(i + 1).copied();
        let mut push = |tok, len| {
            tokens.push(Token { tok, column });
            len
        };
        i += match c {
            c if c.is_whitespace() => 1,
            c if c.is_control() => {
                return Err(ParseError::syntax(
                    column,
                    format!("unexpected control character U+{:04X}", u32::from(c)),
                )
                .with_hint("write it as an escape inside double quotes, such as \"\\t\""));
            }
            '(' => push(Tok::LParen, 1),
            ')' => push(Tok::RParen, 1),
            ',' => push(Tok::Comma, 1),
            '~' => push(Tok::Tilde, 1),
            '=' if next == Some('=') => {
                return Err(
                    ParseError::syntax(column, "\"==\" is not an operator").with_hint("use \"=\"")
                );
            }
            '=' => push(Tok::Eq, 1),
            '!' if next == Some('=') => push(Tok::Ne, 2),
            '!' => {
                return Err(ParseError::syntax(column, "expected \"!=\" after \"!\"")
                    .with_hint("to negate a condition, put \"not\" before it"));
            }
            '<' if next == Some('=') => push(Tok::Le, 2),
            '<' => push(Tok::Lt, 1),
            '>' if next == Some('=') => push(Tok::Ge, 2),
            '>' => push(Tok::Gt, 1),
            '.' if next == Some('.') => push(Tok::DotDot, 2),
            '"' => {
                let (text, len) = double_quoted(&chars, i)?;
                push(Tok::Str(text), len)
            }
            '\'' => {
                let (text, len) = single_quoted(&chars, i)?;
                push(Tok::Str(text), len)
            }
            _ => {
                let mut end = i;
                while end < chars.len()
                    && is_word_char(chars[end])
                    && !(chars[end] == '.' && chars.get(end + 1) == Some(&'.'))
                {
                    end += 1;
                }
                push(Tok::Word(chars[i..end].iter().collect()), end - i)
            }
        };
    }
    Ok(tokens)
}

/// A `"..."` string starting at `start`: the text and the number of
/// characters it spans, quotes included.
fn double_quoted(chars: &[char], start: usize) -> Result<(String, usize), ParseError> {
    let mut out = String::new();
    let mut i = start + 1;
    loop {
        let Some(&c) = chars.get(i) else {
            return Err(unterminated(start, '"'));
        };
        match c {
            '"' => return Ok((out, i + 1 - start)),
            '\\' => {
                let (c, len) = escape(chars, i, start)?;
                out.push(c);
                i += len;
            }
            c if c.is_control() => return Err(control_in_string(i, c)),
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
}

/// The escape at `at` (a backslash) in the string that starts at `start`:
/// the character and how many characters the escape spans.
fn escape(chars: &[char], at: usize, start: usize) -> Result<(char, usize), ParseError> {
    let expected = "expected \\\", \\\\, \\n, \\r, \\t or \\u{...}";
    let raw_hint = "or use single quotes for text with backslashes, such as '^key\\.'";
    let simple = match chars.get(at + 1) {
        None => return Err(unterminated(start, '"')),
        Some('"') => '"',
        Some('\\') => '\\',
        Some('n') => '\n',
        Some('r') => '\r',
        Some('t') => '\t',
        Some('u') => return unicode_escape(chars, at),
        Some(&other) => {
            return Err(ParseError::syntax(
                at + 1,
                format!("unknown escape {} in a string", quote(&format!("\\{other}"))),
            )
            .with_hint(format!("{expected}; {raw_hint}")));
        }
    };
    Ok((simple, 2))
}

/// `\u{1F600}`: one to six hex digits naming a Unicode scalar value.
fn unicode_escape(chars: &[char], at: usize) -> Result<(char, usize), ParseError> {
    let bad = || {
        ParseError::syntax(at + 1, "invalid \\u escape")
            .with_hint("write one to six hex digits of a Unicode scalar value, such as \\u{e9}")
    };
    if chars.get(at + 2) != Some(&'{') {
        return Err(bad());
    }
    let digits: String =
        chars[at + 3..].iter().take(7).take_while(|c| c.is_ascii_hexdigit()).collect();
    if digits.is_empty() || digits.len() > 6 || chars.get(at + 3 + digits.len()) != Some(&'}') {
        return Err(bad());
    }
    let c = u32::from_str_radix(&digits, 16).ok().and_then(char::from_u32).ok_or_else(bad)?;
    Ok((c, digits.len() + 4))
}

/// A `'...'` string starting at `start`, taken as written except that `''`
/// stands for one `'`.
fn single_quoted(chars: &[char], start: usize) -> Result<(String, usize), ParseError> {
    let mut out = String::new();
    let mut i = start + 1;
    loop {
        match chars.get(i) {
            None => return Err(unterminated(start, '\'')),
            Some('\'') if chars.get(i + 1) == Some(&'\'') => {
                out.push('\'');
                i += 2;
            }
            Some('\'') => return Ok((out, i + 1 - start)),
            Some(&c) if c.is_control() => return Err(control_in_string(i, c)),
            Some(&c) => {
                out.push(c);
                i += 1;
            }
        }
    }
}

fn unterminated(start: usize, quote_char: char) -> ParseError {
    ParseError::syntax(start + 1, "unterminated string")
        .with_hint(format!("expected a closing {quote_char} before the end of the filter"))
}

fn control_in_string(at: usize, c: char) -> ParseError {
    ParseError::syntax(
        at + 1,
        format!("unexpected control character U+{:04X} in a string", u32::from(c)),
    )
    .with_hint("write it as an escape inside double quotes, such as \"\\n\"")
}
