//! Parsing of the attribute's arguments: `#[audited(event = "...", ...)]`.
//!
//! Arguments are split at top-level commas and each one is parsed on its own,
//! so that every mistake is reported at once (serde's error accumulator) and
//! each error points at the offending token.

use proc_macro2::{Span, TokenStream, TokenTree};
use quote::ToTokens;
use syn::parse::{ParseStream, Parser};
use syn::punctuated::Punctuated;
use syn::{Expr, Ident, LitBool, LitStr, Path, Token};

use crate::template;

mod kw {
    syn::custom_keyword!(event);
    syn::custom_keyword!(action);
    syn::custom_keyword!(resource);
    syn::custom_keyword!(resource_id);
    syn::custom_keyword!(actor);
    syn::custom_keyword!(tenant);
    syn::custom_keyword!(skip);
    syn::custom_keyword!(skip_all);
    syn::custom_keyword!(redact);
    syn::custom_keyword!(capture);
    syn::custom_keyword!(description);
    syn::custom_keyword!(metadata);
    syn::custom_keyword!(delivery);
    syn::custom_keyword!(auditor);
    syn::custom_keyword!(request);
    syn::custom_keyword!(response);
}

/// Collects errors so that all of them are reported, not just the first.
#[derive(Default)]
pub(crate) struct Ctxt {
    errors: Option<syn::Error>,
}

impl Ctxt {
    pub(crate) fn push(&mut self, error: syn::Error) {
        match &mut self.errors {
            Some(e) => e.combine(error),
            None => self.errors = Some(error),
        }
    }

    pub(crate) fn error(&mut self, tokens: impl ToTokens, message: impl std::fmt::Display) {
        self.push(syn::Error::new_spanned(tokens, message));
    }

    pub(crate) fn finish(self) -> Result<(), syn::Error> {
        self.errors.map_or(Ok(()), Err)
    }
}

/// The `Action` variants, by their lowercase names.
pub(crate) const ACTIONS: &[(&str, &str)] = &[
    ("create", "Create"),
    ("read", "Read"),
    ("update", "Update"),
    ("delete", "Delete"),
    ("other", "Other"),
];

/// The `Delivery` variants, by their names in the attribute.
pub(crate) const DELIVERIES: &[(&str, &str)] =
    &[("buffered", "Buffered"), ("strict", "Strict"), ("best_effort", "BestEffort")];

/// `arg.field.field`: a path into a captured argument.
#[derive(Debug, Clone)]
pub(crate) struct FieldPath {
    pub(crate) arg: Ident,
    pub(crate) fields: Vec<Ident>,
}

/// The parsed arguments.
#[derive(Default)]
pub(crate) struct Args {
    pub(crate) event: Option<LitStr>,
    /// The `Action` variant name.
    pub(crate) action: Option<Ident>,
    pub(crate) resource: Option<LitStr>,
    pub(crate) resource_id: Option<Expr>,
    pub(crate) actor: Option<Expr>,
    pub(crate) tenant: Option<Expr>,
    pub(crate) skip: Vec<Ident>,
    pub(crate) skip_all: Option<kw::skip_all>,
    pub(crate) redact: Vec<FieldPath>,
    pub(crate) capture_request: Option<bool>,
    pub(crate) capture_response: Option<bool>,
    pub(crate) description: Option<LitStr>,
    pub(crate) metadata: Vec<(LitStr, Expr)>,
    /// The `Delivery` variant name.
    pub(crate) delivery: Option<Ident>,
    pub(crate) auditor: Option<Expr>,
    pub(crate) krate: Option<Path>,
    /// Keys seen so far, for duplicate detection.
    seen: Vec<String>,
    capture_seen: Vec<String>,
}

impl Args {
    pub(crate) fn capture_request(&self) -> bool {
        self.capture_request.unwrap_or(true)
    }

    pub(crate) fn capture_response(&self) -> bool {
        self.capture_response.unwrap_or(true)
    }

    pub(crate) fn krate(&self) -> TokenStream {
        match &self.krate {
            Some(path) => path.to_token_stream(),
            None => quote::quote!(::audit_core),
        }
    }
}

/// Parses the attribute's arguments; errors go to `cx`.
pub(crate) fn parse(tokens: TokenStream, cx: &mut Ctxt) -> Args {
    let mut args = Args::default();
    for chunk in split_top_level_commas(tokens, cx) {
        let parser = |input: ParseStream<'_>| parse_one(input, &mut args, cx);
        if let Err(e) = parser.parse2(chunk) {
            cx.push(e);
        }
    }
    if !args.seen.iter().any(|k| k == "event") {
        cx.push(syn::Error::new(
            Span::call_site(),
            "missing `event`: name what the operation does, e.g. \
             `#[audited(event = \"project.update\")]`",
        ));
    }
    if let (Some(all), false) = (&args.skip_all, args.skip.is_empty()) {
        cx.error(all, "`skip_all` skips every argument: remove it or the `skip(...)` list");
    }
    args
}

/// Splits at commas outside any group; an empty argument (`a,,b`) is an error.
fn split_top_level_commas(tokens: TokenStream, cx: &mut Ctxt) -> Vec<TokenStream> {
    let mut chunks = Vec::new();
    let mut current = Vec::new();
    for tt in tokens {
        match &tt {
            TokenTree::Punct(p) if p.as_char() == ',' => {
                if current.is_empty() {
                    cx.error(p, "unexpected `,`: expected an argument such as `event = \"...\"`");
                } else {
                    chunks.push(current.drain(..).collect());
                }
            }
            _ => current.push(tt),
        }
    }
    if !current.is_empty() {
        chunks.push(current.into_iter().collect());
    }
    chunks
}

fn parse_one(input: ParseStream<'_>, args: &mut Args, cx: &mut Ctxt) -> syn::Result<()> {
    let la = input.lookahead1();
    if la.peek(kw::event) {
        let key = key::<kw::event>(input, args, cx, "event")?;
        let lit = lit_str(input, "event", "`event = \"project.update\"`")?;
        let name = lit.value();
        if name.trim().is_empty() {
            cx.error(&lit, "`event` must not be empty; use a dotted name like \"project.update\"");
        } else if name.chars().any(char::is_whitespace) {
            cx.error(
                &lit,
                "`event` must not contain whitespace; use a dotted name like \"project.update\"",
            );
        }
        set(&mut args.event, lit, key);
    } else if la.peek(kw::action) {
        let key = key::<kw::action>(input, args, cx, "action")?;
        let lit = lit_str(input, "action", "`action = \"update\"`")?;
        let variant = one_of(&lit, ACTIONS, "action", cx);
        set(&mut args.action, variant, key);
    } else if la.peek(kw::resource_id) {
        let key = key::<kw::resource_id>(input, args, cx, "resource_id")?;
        set(&mut args.resource_id, expr(input, "resource_id")?, key);
    } else if la.peek(kw::resource) {
        let key = key::<kw::resource>(input, args, cx, "resource")?;
        let lit = lit_str(input, "resource", "`resource = \"project\"`")?;
        if lit.value().trim().is_empty() {
            cx.error(&lit, "`resource` must not be empty");
        }
        set(&mut args.resource, lit, key);
    } else if la.peek(kw::actor) {
        let key = key::<kw::actor>(input, args, cx, "actor")?;
        set(&mut args.actor, expr(input, "actor")?, key);
    } else if la.peek(kw::tenant) {
        let key = key::<kw::tenant>(input, args, cx, "tenant")?;
        set(&mut args.tenant, expr(input, "tenant")?, key);
    } else if la.peek(kw::skip_all) {
        let kw: kw::skip_all = input.parse()?;
        if args.skip_all.is_some() {
            cx.error(kw, "duplicate `skip_all` argument");
        }
        args.skip_all = Some(kw);
    } else if la.peek(kw::skip) {
        let kw: kw::skip = input.parse()?;
        let content = parenthesized(input, "skip", "`skip(password, db)`")?;
        let names = Punctuated::<Ident, Token![,]>::parse_terminated(&content)?;
        if names.is_empty() {
            cx.error(kw, "`skip()` names no parameter; list parameters, e.g. `skip(password)`");
        }
        for name in names {
            if args.skip.contains(&name) {
                cx.error(&name, format!("`{name}` is already skipped"));
            }
            args.skip.push(name);
        }
    } else if la.peek(kw::redact) {
        let kw: kw::redact = input.parse()?;
        let content = parenthesized(input, "redact", "`redact(body.password)`")?;
        let paths = Punctuated::<FieldPath, Token![,]>::parse_terminated_with(&content, |i| {
            let arg: Ident = i.parse()?;
            let mut fields = Vec::new();
            while i.peek(Token![.]) {
                i.parse::<Token![.]>()?;
                fields.push(i.call(Ident::parse_any)?);
            }
            Ok(FieldPath { arg, fields })
        })?;
        if paths.is_empty() {
            cx.error(kw, "`redact()` names nothing; list fields, e.g. `redact(body.password)`");
        }
        args.redact.extend(paths);
    } else if la.peek(kw::capture) {
        let _: kw::capture = input.parse()?;
        let content = parenthesized(input, "capture", "`capture(response = false)`")?;
        let items = Punctuated::<(Ident, bool), Token![,]>::parse_terminated_with(&content, |i| {
            let la = i.lookahead1();
            let name = if la.peek(kw::request) || la.peek(kw::response) {
                i.call(Ident::parse_any)?
            } else {
                return Err(la.error());
            };
            let on = if i.peek(Token![=]) {
                i.parse::<Token![=]>()?;
                if !i.peek(LitBool) {
                    return Err(i.error(format!(
                        "`{name}` expects `true` or `false`, e.g. `capture({name} = false)`"
                    )));
                }
                i.parse::<LitBool>()?.value
            } else {
                true
            };
            Ok((name, on))
        })?;
        for (name, on) in items {
            let key = name.to_string();
            if args.capture_seen.contains(&key) {
                cx.error(&name, format!("duplicate `{key}` in `capture(...)`"));
            }
            args.capture_seen.push(key.clone());
            if key == "request" {
                args.capture_request = Some(on);
            } else {
                args.capture_response = Some(on);
            }
        }
    } else if la.peek(kw::description) {
        let key = key::<kw::description>(input, args, cx, "description")?;
        let lit = lit_str(input, "description", "`description = \"{actor} renamed {resource}\"`")?;
        if let Err(message) = template::check(&lit.value()) {
            cx.error(&lit, message);
        }
        set(&mut args.description, lit, key);
    } else if la.peek(kw::metadata) {
        let _: kw::metadata = input.parse()?;
        let content = parenthesized(input, "metadata", "`metadata(region = region.code())`")?;
        let entries =
            Punctuated::<(LitStr, Expr), Token![,]>::parse_terminated_with(&content, |i| {
                let key = if i.peek(LitStr) {
                    i.parse::<LitStr>()?
                } else if i.peek(Ident::peek_any) {
                    let ident = i.call(Ident::parse_any)?;
                    LitStr::new(&ident.to_string(), ident.span())
                } else {
                    return Err(i.error(
                        "expected a metadata key, e.g. `region = ...` or `\"x-id\" = ...`",
                    ));
                };
                i.parse::<Token![=]>()?;
                Ok((key, i.parse::<Expr>()?))
            })?;
        for (key, value) in entries {
            if args.metadata.iter().any(|(k, _)| k.value() == key.value()) {
                cx.error(&key, format!("duplicate metadata key `{}`", key.value()));
            }
            args.metadata.push((key, value));
        }
    } else if la.peek(kw::delivery) {
        let key = key::<kw::delivery>(input, args, cx, "delivery")?;
        let lit = lit_str(input, "delivery", "`delivery = \"strict\"`")?;
        let variant = one_of(&lit, DELIVERIES, "delivery", cx);
        set(&mut args.delivery, variant, key);
    } else if la.peek(kw::auditor) {
        let key = key::<kw::auditor>(input, args, cx, "auditor")?;
        set(&mut args.auditor, expr(input, "auditor")?, key);
    } else if la.peek(Token![crate]) {
        let token: Token![crate] = input.parse()?;
        let dup = duplicate(args, cx, &token, "crate");
        eq(input, "crate")?;
        let path = if input.peek(LitStr) {
            let lit: LitStr = input.parse()?;
            lit.parse_with(Path::parse_mod_style)?
        } else {
            input.call(Path::parse_mod_style).map_err(|e| {
                syn::Error::new(e.span(), "`crate` expects a path, e.g. `crate = ::my_audit`")
            })?
        };
        if !dup {
            args.krate = Some(path);
        }
    } else {
        return Err(la.error());
    }
    if !input.is_empty() {
        return Err(
            input.error("unexpected tokens after the argument; separate arguments with `,`")
        );
    }
    Ok(())
}

use syn::ext::IdentExt as _;

/// Parses a key and reports a duplicate; returns whether the value is new.
fn key<K: syn::parse::Parse + ToTokens>(
    input: ParseStream<'_>,
    args: &mut Args,
    cx: &mut Ctxt,
    name: &str,
) -> syn::Result<bool> {
    let token: K = input.parse()?;
    let dup = duplicate(args, cx, &token, name);
    eq(input, name)?;
    Ok(!dup)
}

fn duplicate(args: &mut Args, cx: &mut Ctxt, token: &impl ToTokens, name: &str) -> bool {
    if args.seen.iter().any(|k| k == name) {
        cx.error(token, format!("duplicate `{name}` argument"));
        true
    } else {
        args.seen.push(name.to_owned());
        false
    }
}

fn set<T>(slot: &mut Option<T>, value: T, fresh: bool) {
    if fresh {
        *slot = Some(value);
    }
}

fn eq(input: ParseStream<'_>, name: &str) -> syn::Result<()> {
    if input.peek(Token![=]) {
        input.parse::<Token![=]>().map(drop)
    } else {
        Err(input.error(format!("expected `=` after `{name}`")))
    }
}

fn lit_str(input: ParseStream<'_>, name: &str, example: &str) -> syn::Result<LitStr> {
    if input.peek(LitStr) {
        input.parse()
    } else {
        Err(input.error(format!("`{name}` expects a string literal, e.g. {example}")))
    }
}

fn expr(input: ParseStream<'_>, name: &str) -> syn::Result<Expr> {
    if input.is_empty() {
        return Err(input.error(format!("expected an expression after `{name} =`")));
    }
    input.parse()
}

fn parenthesized<'a>(
    input: ParseStream<'a>,
    name: &str,
    example: &str,
) -> syn::Result<syn::parse::ParseBuffer<'a>> {
    if !input.peek(syn::token::Paren) {
        return Err(input.error(format!("`{name}` expects a list in parentheses, e.g. {example}")));
    }
    let content;
    syn::parenthesized!(content in input);
    Ok(content)
}

/// Maps a string literal to a variant name, or reports the allowed values.
fn one_of(lit: &LitStr, allowed: &[(&str, &str)], name: &str, cx: &mut Ctxt) -> Ident {
    let value = lit.value().to_ascii_lowercase().replace('-', "_");
    match allowed.iter().find(|(k, _)| *k == value) {
        Some((_, variant)) => Ident::new(variant, lit.span()),
        None => {
            let list: Vec<String> = allowed.iter().map(|(k, _)| format!("\"{k}\"")).collect();
            cx.error(
                lit,
                format!("unknown {name} `{}`; expected one of {}", lit.value(), list.join(", ")),
            );
            Ident::new(allowed[0].1, lit.span())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;

    fn parse_ok(tokens: TokenStream) -> Args {
        let mut cx = Ctxt::default();
        let args = parse(tokens, &mut cx);
        if let Err(e) = cx.finish() {
            panic!("unexpected error: {e}");
        }
        args
    }

    fn errors(tokens: TokenStream) -> Vec<String> {
        let mut cx = Ctxt::default();
        parse(tokens, &mut cx);
        cx.finish()
            .err()
            .map(|e| e.into_iter().map(|e| e.to_string()).collect())
            .unwrap_or_default()
    }

    #[test]
    fn parses_every_argument() {
        let args = parse_ok(quote! {
            event = "project.update", action = "delete", resource = "proj", resource_id = id,
            actor = user.clone(), tenant = org, skip(db, cache), redact(body.password, body),
            capture(request = false, response), description = "{actor} did {resource}",
            metadata(region = "eu", "x-id" = 1 + 2), delivery = "best-effort",
            auditor = self.auditor, crate = ::my::audit,
        });
        assert_eq!(args.event.unwrap().value(), "project.update");
        assert_eq!(args.action.unwrap(), "Delete");
        assert_eq!(args.resource.unwrap().value(), "proj");
        assert!(args.resource_id.is_some() && args.actor.is_some() && args.tenant.is_some());
        assert_eq!(args.skip.len(), 2);
        assert_eq!(args.redact.len(), 2);
        assert_eq!(args.redact[0].fields.len(), 1);
        assert_eq!((args.capture_request, args.capture_response), (Some(false), Some(true)));
        assert_eq!(args.metadata.len(), 2);
        assert_eq!(args.metadata[1].0.value(), "x-id");
        assert_eq!(args.delivery.unwrap(), "BestEffort");
        assert_eq!(args.krate.unwrap().to_token_stream().to_string(), ":: my :: audit");
    }

    #[test]
    fn reports_every_error_at_once() {
        let errs =
            errors(quote! { action = 5, bogus = 1, skip_all, skip(a), delivery = "sometimes" });
        assert_eq!(errs.len(), 5, "{errs:#?}");
        assert!(errs[0].contains("`action` expects a string literal"), "{errs:#?}");
        assert!(errs[1].starts_with("expected one of"), "{errs:#?}");
        assert!(errs[2].contains("unknown delivery `sometimes`"), "{errs:#?}");
        assert!(errs[3].starts_with("missing `event`"), "{errs:#?}");
        assert!(errs[4].contains("skip_all"), "{errs:#?}");
    }

    #[test]
    fn duplicates_and_bad_values() {
        let errs = errors(quote! { event = "a.b", event = "c.d" });
        assert_eq!(errs, ["duplicate `event` argument"]);
        let errs = errors(quote! { event = "", capture(request = 1), crate = 5 });
        assert_eq!(errs.len(), 3, "{errs:#?}");
        let errs = errors(quote! { event = "a.b", description = "{actr}" });
        assert!(errs[0].contains("unknown placeholder `{actr}`"), "{errs:#?}");
        let errs = errors(quote! { event = "a.b",, });
        assert!(errs[0].starts_with("unexpected `,`"), "{errs:#?}");
    }
}
