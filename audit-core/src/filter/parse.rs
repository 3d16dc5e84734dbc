//! The text syntax → [`Filter`]: a recursive-descent parser over the
//! tokens of [`lex`](super::lex), with limits against hostile input. The
//! grammar is in the [module docs](super#grammar).

use super::ast::{Condition, Field, Filter, JsonRoot, Test, Value};
use super::error::{ParseError, ParseErrorKind, quote};
use super::lex::{Tok, Token, lex};
use super::literal::{json_number, typed_value};
use super::pattern::Pattern;
use crate::query::TimeBound;

impl Filter {
    /// The longest text accepted, in bytes.
    pub const MAX_LEN: usize = 16 * 1024;
    /// The deepest nesting of parentheses and `not`.
    pub const MAX_DEPTH: usize = 32;
    /// The most conditions, free-text terms and listed values in one filter.
    pub const MAX_TERMS: usize = 256;

    /// Parses the text syntax (see the [module docs](super)). The empty text
    /// (or only whitespace) is [`Filter::all`].
    ///
    /// ```
    /// use audit_core::filter::Filter;
    ///
    /// let filter = Filter::parse("event = key.* and not outcome = success").unwrap();
    /// assert_eq!(filter.to_string(), "event = key.* and not outcome = success");
    /// ```
    pub fn parse(input: &str) -> Result<Self, ParseError> {
        if input.len() > Self::MAX_LEN {
            let mut cut = Self::MAX_LEN;
            while !input.is_char_boundary(cut) {
                cut -= 1;
            }
            return Err(ParseError::new(
                ParseErrorKind::TooLong,
                input[..cut].chars().count() + 1,
                format!(
                    "the filter is {} bytes long; at most {} are accepted",
                    input.len(),
                    Self::MAX_LEN
                ),
            ));
        }
        let tokens = lex(input)?;
        let mut parser =
            Parser { tokens, pos: 0, depth: 0, terms: 0, end: input.chars().count() + 1 };
        if parser.tokens.is_empty() {
            return Ok(Self::all());
        }
        let filter = parser.or_expr()?;
        match parser.peek() {
            None => Ok(filter),
            Some(Tok::RParen) => {
                Err(ParseError::syntax(parser.column(), "unexpected \")\" with no \"(\" to close"))
            }
            Some(_) => Err(parser.expected("\"and\", \"or\" or the end of the filter")),
        }
    }
}

impl std::str::FromStr for Filter {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
    depth: usize,
    terms: usize,
    /// The column one past the last character.
    end: usize,
}

/// What operators a field takes, as error hints list them.
fn operators(field: &Field) -> &'static str {
    match field {
        Field::Time => "<, <=, >, >=, in <start>..<end> or exists",
        Field::Ip => "=, !=, in (...) or exists",
        Field::Json(_) => "=, !=, ~, in (...), exists, <, <=, > or >=",
        _ => "=, !=, ~, in (...) or exists",
    }
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.tokens.get(self.pos).map(|t| &t.tok)
    }

    /// The column of the next token, or one past the end.
    fn column(&self) -> usize {
        self.tokens.get(self.pos).map_or(self.end, |t| t.column)
    }

    fn bump(&mut self) -> Option<Token> {
        let token = self.tokens.get(self.pos).cloned();
        self.pos += usize::from(token.is_some());
        token
    }

    /// `expected <what> [after <previous token>][, found <next token>]`, at
    /// the next token (or the end).
    fn expected(&self, what: &str) -> ParseError {
        let mut message = format!("expected {what}");
        if let Some(prev) = self.pos.checked_sub(1).and_then(|p| self.tokens.get(p)) {
            message.push_str(&format!(" after {}", prev.tok.describe()));
        }
        if let Some(next) = self.peek() {
            message.push_str(&format!(", found {}", next.describe()));
        }
        ParseError::syntax(self.column(), message)
    }

    fn enter(&mut self, column: usize) -> Result<(), ParseError> {
        self.depth += 1;
        if self.depth > Filter::MAX_DEPTH {
            return Err(ParseError::new(
                ParseErrorKind::TooDeep,
                column,
                format!("parentheses and \"not\" nest more than {} deep", Filter::MAX_DEPTH),
            ));
        }
        Ok(())
    }

    fn count_term(&mut self, column: usize) -> Result<(), ParseError> {
        self.terms += 1;
        if self.terms > Filter::MAX_TERMS {
            return Err(ParseError::new(
                ParseErrorKind::TooManyTerms,
                column,
                format!("more than {} conditions and values", Filter::MAX_TERMS),
            )
            .with_hint("split the filter, or match many values with a glob or ~"));
        }
        Ok(())
    }

    fn or_expr(&mut self) -> Result<Filter, ParseError> {
        let mut items = vec![self.and_expr()?];
        while self.peek().is_some_and(|t| t.is_keyword("or")) {
            self.bump();
            items.push(self.and_expr()?);
        }
        Ok(Filter::or(items))
    }

    fn and_expr(&mut self) -> Result<Filter, ParseError> {
        let mut items = vec![self.not_expr()?];
        while self.peek().is_some_and(|t| t.is_keyword("and")) {
            self.bump();
            items.push(self.not_expr()?);
        }
        Ok(Filter::and(items))
    }

    fn not_expr(&mut self) -> Result<Filter, ParseError> {
        if !self.peek().is_some_and(|t| t.is_keyword("not")) {
            return self.primary();
        }
        let column = self.column();
        self.bump();
        self.enter(column)?;
        let inner = self.not_expr()?;
        self.depth -= 1;
        Ok(inner.negate())
    }

    fn primary(&mut self) -> Result<Filter, ParseError> {
        let column = self.column();
        match self.peek() {
            Some(Tok::LParen) => {
                self.bump();
                self.enter(column)?;
                let inner = self.or_expr()?;
                if self.peek() != Some(&Tok::RParen) {
                    return Err(self
                        .expected("\")\"")
                        .with_hint(format!("the \"(\" at column {column} is not closed")));
                }
                self.bump();
                self.depth -= 1;
                Ok(inner)
            }
            Some(Tok::Str(text)) => {
                let text = Filter::Text(text.clone());
                self.count_term(column)?;
                self.bump();
                Ok(text)
            }
            Some(t) if t.is_keyword("true") => {
                self.bump();
                Ok(Filter::all())
            }
            Some(t) if t.is_keyword("false") => {
                self.bump();
                Ok(Filter::none())
            }
            Some(t) if is_connective(t) => Err(self.expected("a condition")),
            Some(Tok::Word(_)) => self.condition(),
            None => Err(self.expected("a condition")),
            _ => Err(self.expected("a condition").with_hint(
                "a condition is a field, an operator and a value, such as tenant = acme",
            )),
        }
    }

    fn condition(&mut self) -> Result<Filter, ParseError> {
        let Some(Token { tok: Tok::Word(name), column }) = self.bump() else {
            return Err(self.expected("a field"));
        };
        self.count_term(column)?;
        let field = field(&name, column)?;
        let op_column = self.column();
        let Some(op) = self.peek().cloned() else {
            return Err(self.expected("an operator").with_hint(format!(
                "{} takes {}",
                name,
                operators(&field)
            )));
        };
        let unsupported = |symbol: &str| {
            ParseError::new(
                ParseErrorKind::UnsupportedOperator,
                op_column,
                format!("{} does not apply to {name}", quote(symbol)),
            )
            .with_hint(format!("{name} takes {}", operators(&field)))
        };
        let ordered = matches!(field, Field::Time | Field::Json(_));
        let test = match op {
            Tok::Eq | Tok::Ne if field == Field::Time => return Err(unsupported(&op_symbol(&op))),
            Tok::Eq | Tok::Ne => {
                self.bump();
                let value = self.value(&field)?;
                if op == Tok::Eq { Test::Eq(value) } else { Test::Ne(value) }
            }
            Tok::Tilde if matches!(field, Field::Time | Field::Ip) => {
                return Err(unsupported("~"));
            }
            Tok::Tilde => {
                self.bump();
                Test::Matches(self.pattern()?)
            }
            Tok::Lt | Tok::Le | Tok::Gt | Tok::Ge if !ordered => {
                return Err(unsupported(&op_symbol(&op)));
            }
            Tok::Lt | Tok::Le | Tok::Gt | Tok::Ge => {
                self.bump();
                let value = self.ordered_value(&field, &op_symbol(&op))?;
                match op {
                    Tok::Lt => Test::Lt(value),
                    Tok::Le => Test::Le(value),
                    Tok::Gt => Test::Gt(value),
                    _ => Test::Ge(value),
                }
            }
            ref t if t.is_keyword("in") && field == Field::Time => {
                self.bump();
                return self.time_range();
            }
            ref t if t.is_keyword("in") => {
                self.bump();
                Test::In(self.list(&field)?)
            }
            ref t if t.is_keyword("exists") => {
                self.bump();
                Test::Exists
            }
            ref t if t.is_keyword("not") => {
                return Err(self.expected("an operator").with_hint(format!(
                    "to negate a condition, put \"not\" before it: not {name} ..."
                )));
            }
            _ => {
                return Err(self
                    .expected("an operator")
                    .with_hint(format!("{name} takes {}", operators(&field))));
            }
        };
        Ok(Filter::Cond(Condition::new(field, test)))
    }

    /// The next token as a value's text: a bare word (not `and`, `or` or
    /// `not`) or a string; the text, whether it was quoted, and its column.
    fn raw_value(&mut self, what: &str) -> Result<(String, bool, usize), ParseError> {
        let column = self.column();
        match self.peek() {
            Some(t) if is_connective(t) => {
                Err(self.expected(what).with_hint("put it in quotes to use it as a value"))
            }
            Some(Tok::Word(text)) => {
                let text = text.clone();
                self.bump();
                Ok((text, false, column))
            }
            Some(Tok::Str(text)) => {
                let text = text.clone();
                self.bump();
                Ok((text, true, column))
            }
            _ => Err(self.expected(what)),
        }
    }

    fn value(&mut self, field: &Field) -> Result<Value, ParseError> {
        let (text, quoted, column) = self.raw_value("a value")?;
        typed_value(field, text, quoted)
            .map_err(|message| ParseError::new(ParseErrorKind::InvalidValue, column, message))
    }

    fn ordered_value(&mut self, field: &Field, symbol: &str) -> Result<Value, ParseError> {
        if *field == Field::Time {
            return self.value(field);
        }
        let column = self.column();
        let number = match self.peek() {
            Some(Tok::Word(word)) => json_number(word),
            _ => None,
        };
        match number {
            Some(Ok(n)) => {
                self.bump();
                Ok(Value::Number(n))
            }
            Some(Err(message)) => {
                Err(ParseError::new(ParseErrorKind::InvalidValue, column, message))
            }
            None => Err(self.expected("a number").with_hint(format!(
                "{symbol} compares numbers in JSON paths, such as response.status {symbol} 399"
            ))),
        }
    }

    fn pattern(&mut self) -> Result<Pattern, ParseError> {
        let (text, _, column) = self.raw_value("a regular expression")?;
        Pattern::new(&text)
            .map_err(|e| ParseError::new(ParseErrorKind::Regex, column, e.to_string()))
    }

    fn list(&mut self, field: &Field) -> Result<Vec<Value>, ParseError> {
        if self.peek() != Some(&Tok::LParen) {
            return Err(self
                .expected("\"(\"")
                .with_hint("list the values in parentheses, such as tenant in (acme, globex)"));
        }
        self.bump();
        let mut values = Vec::new();
        loop {
            if !values.is_empty() {
                self.count_term(self.column())?;
            }
            values.push(self.value(field)?);
            match self.peek() {
                Some(Tok::Comma) => {
                    self.bump();
                }
                Some(Tok::RParen) => {
                    self.bump();
                    return Ok(values);
                }
                _ => return Err(self.expected("\",\" or \")\"")),
            }
        }
    }

    /// After `time in`: `<start>..<end>`, either end optional, meaning
    /// `time >= start and time < end`.
    fn time_range(&mut self) -> Result<Filter, ParseError> {
        let hint = "a time range is <start>..<end>, such as 2026-01-01..2026-02-01 or 7d..1d \
                    (from 7 days ago to 1 day ago); either end may be left out";
        let start = if is_value(self.peek()) { Some(self.value(&Field::Time)?) } else { None };
        if self.peek() != Some(&Tok::DotDot) {
            let what = if start.is_some() { "\"..\"" } else { "a time range" };
            return Err(self.expected(what).with_hint(hint));
        }
        let dots = self.column();
        self.bump();
        let end = if is_value(self.peek()) {
            self.count_term(self.column())?;
            Some(self.value(&Field::Time)?)
        } else {
            None
        };
        if let (Some(Value::Time(a)), Some(Value::Time(b))) = (&start, &end) {
            let empty = match (a, b) {
                (TimeBound::Absolute(a), TimeBound::Absolute(b)) => a >= b,
                (TimeBound::Relative(a), TimeBound::Relative(b)) => a <= b,
                _ => false,
            };
            if empty {
                return Err(ParseError::new(
                    ParseErrorKind::InvalidValue,
                    dots,
                    "the time range is empty: its start is not before its end",
                )
                .with_hint(hint));
            }
        }
        if start.is_none() && end.is_none() {
            return Err(self.expected("the end of the time range").with_hint(hint));
        }
        let bound = |test: fn(Value) -> Test, value: Option<Value>| {
            value.map(|v| Filter::cond(Field::Time, test(v)))
        };
        Ok(Filter::and(bound(Test::Ge, start).into_iter().chain(bound(Test::Lt, end))))
    }
}

/// Whether the token can be a value: a word other than `and`, `or`, `not`,
/// or a string.
fn is_value(tok: Option<&Tok>) -> bool {
    matches!(tok, Some(Tok::Word(_) | Tok::Str(_))) && !tok.is_some_and(is_connective)
}

fn is_connective(tok: &Tok) -> bool {
    ["and", "or", "not"].iter().any(|k| tok.is_keyword(k))
}

fn op_symbol(tok: &Tok) -> String {
    tok.describe().trim_matches('"').to_owned()
}

/// The field a name stands for, or an error listing the known fields.
fn field(name: &str, column: usize) -> Result<Field, ParseError> {
    if let Some(field) = Field::from_name(name) {
        return Ok(field);
    }
    // A word holds no `..`, so the only empty key of a JSON path is after a
    // trailing dot.
    if let Some((root, _)) = name.split_once('.')
        && JsonRoot::ALL.iter().any(|r| r.as_str() == root)
        && name.ends_with('.')
    {
        return Err(ParseError::new(
            ParseErrorKind::UnknownField,
            column + name.chars().count(),
            format!("expected a key after \".\" in the JSON path {}", quote(name)),
        ));
    }
    let known: Vec<&str> = Field::NAMED.iter().map(|(n, _)| *n).collect();
    Err(ParseError::new(
        ParseErrorKind::UnknownField,
        column,
        format!("unknown field {}", quote(name)),
    )
    .with_hint(format!(
        "known fields: {}, and JSON paths into request, response, changes and metadata (such \
         as request.body.role); to search for text, put it in quotes",
        known.join(", ")
    )))
}
