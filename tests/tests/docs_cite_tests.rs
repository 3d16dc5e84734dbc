//! The docs cite what exists, and link only inside the repository.
//!
//! SECURITY.md backs each claim with a citation in square brackets, and the
//! other docs cite the same way:
//!
//! ```text
//! [`audit-cli/tests/cli/hostile.rs`: `a_history_rewritten_without_the_key_fails_verification`]
//! [`a_forger_who_drops_every_checkpoint_is_caught_too`]
//! [`audit-core/tests/bad_input.rs`, fuzz target `redact`]
//! ```
//!
//! Inside such brackets every code span is a test (a `fn` of that name in some
//! `.rs` file of the workspace; `module::name` counts by its last segment), a
//! source file (`path/to/file.rs` from the workspace root, or a bare
//! `file.rs` that some file of the workspace is named), or, after the words
//! `fuzz target`, a target in `fuzz/fuzz_targets/`. Anything else in a
//! citation fails too, so a citation cannot silently stop being checked.
//!
//! The files read are the Markdown files at the workspace root, in `docs/`
//! and each crate's `README.md`. Code blocks and code spans are not read for
//! links or brackets.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

/// The workspace root (this crate's parent directory).
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("the tests crate has a parent").to_owned()
}

/// The Markdown files whose citations and links are checked.
fn docs(root: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let md_in = |dir: &Path, files: &mut Vec<PathBuf>| {
        let Ok(entries) = std::fs::read_dir(dir) else { return };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_file() && p.extension().is_some_and(|x| x == "md") {
                files.push(p);
            }
        }
    };
    md_in(root, &mut files);
    md_in(&root.join("docs"), &mut files);
    for e in std::fs::read_dir(root).expect("the workspace root is readable").flatten() {
        let readme = e.path().join("README.md");
        if readme.is_file() {
            files.push(readme);
        }
    }
    files.sort();
    assert!(
        files.iter().any(|f| f.ends_with("SECURITY.md")),
        "SECURITY.md not found in {}",
        root.display()
    );
    files
}

/// Every file under `dir`, skipping build output (`target`) and hidden directories.
fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        let p = e.path();
        let name = e.file_name();
        let name = name.to_string_lossy();
        if p.is_dir() {
            if name != "target" && !name.starts_with('.') {
                walk(&p, out);
            }
        } else {
            out.push(p);
        }
    }
}

fn is_ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// The names of every `fn` in `source`.
fn fn_names(source: &str, names: &mut HashSet<String>) {
    let mut rest = source;
    while let Some(at) = rest.find("fn ") {
        let before = rest[..at].chars().next_back();
        let after = rest[at + 3..].trim_start();
        if !before.is_some_and(is_ident_char) {
            let name: String = after.chars().take_while(|&c| is_ident_char(c)).collect();
            if !name.is_empty() {
                names.insert(name);
            }
        }
        rest = &rest[at + 3..];
    }
}

/// What the workspace holds: its files and the names of its functions.
struct Workspace {
    root: PathBuf,
    files: Vec<PathBuf>,
    fns: HashSet<String>,
}

impl Workspace {
    fn scan() -> Self {
        let root = root();
        let mut files = Vec::new();
        walk(&root, &mut files);
        let mut fns = HashSet::new();
        for f in files.iter().filter(|f| f.extension().is_some_and(|x| x == "rs")) {
            if let Ok(source) = std::fs::read_to_string(f) {
                fn_names(&source, &mut fns);
            }
        }
        Self { root, files, fns }
    }

    fn has_file_named(&self, name: &str) -> bool {
        self.files.iter().any(|f| f.file_name().is_some_and(|n| n == name))
    }
}

/// A piece of Markdown prose: text outside code, or one code span.
#[derive(Debug, PartialEq)]
enum Piece<'a> {
    Text(&'a str),
    Code(&'a str),
}

/// Splits `md` into text and code spans, leaving out fenced code blocks.
fn pieces(md: &str) -> Vec<Piece<'_>> {
    let mut out = Vec::new();
    let mut in_fence = false;
    let mut offset = 0;
    let mut start = 0;
    for line in md.split_inclusive('\n') {
        if line.trim_start().starts_with("```") {
            if !in_fence {
                spans(&md[start..offset], &mut out);
            }
            in_fence = !in_fence;
            start = offset + line.len();
        }
        offset += line.len();
    }
    if !in_fence {
        spans(&md[start..], &mut out);
    }
    out
}

/// Splits prose into text and code spans (a run of backticks opens a span
/// that the same run closes).
fn spans<'a>(text: &'a str, out: &mut Vec<Piece<'a>>) {
    let mut rest = text;
    while let Some(open) = rest.find('`') {
        let ticks = rest[open..].chars().take_while(|&c| c == '`').count();
        let fence = &rest[open..open + ticks];
        let body = &rest[open + ticks..];
        let Some(close) = body.find(fence) else { break };
        out.push(Piece::Text(&rest[..open]));
        out.push(Piece::Code(body[..close].trim()));
        rest = &body[close + ticks..];
    }
    out.push(Piece::Text(rest));
}

/// One bracketed group of prose that holds code spans: a citation.
#[derive(Debug, PartialEq)]
struct Citation<'a> {
    /// `(text before the span inside the brackets, the span)`, in order.
    spans: Vec<(String, &'a str)>,
}

/// The citations of a document: `[ ... ]` outside code, holding at least one
/// code span and not followed by `(` (a link).
fn citations<'a>(pieces: &[Piece<'a>]) -> Vec<Citation<'a>> {
    let mut out = Vec::new();
    let mut open: Option<(Vec<(String, &'a str)>, String)> = None;
    for (i, piece) in pieces.iter().enumerate() {
        match piece {
            Piece::Code(code) => {
                if let Some((spans, text)) = &mut open {
                    spans.push((std::mem::take(text), *code));
                }
            }
            Piece::Text(text) => {
                for (j, c) in text.char_indices() {
                    match c {
                        '[' => open = Some((Vec::new(), String::new())),
                        ']' => {
                            let Some((spans, _)) = open.take() else { continue };
                            let next = text[j + 1..].chars().next().or_else(|| {
                                pieces.get(i + 1).and_then(|p| match p {
                                    Piece::Text(t) => t.chars().next(),
                                    Piece::Code(_) => Some('`'),
                                })
                            });
                            if !spans.is_empty() && next != Some('(') {
                                out.push(Citation { spans });
                            }
                        }
                        c => {
                            if let Some((_, text)) = &mut open {
                                text.push(c);
                            }
                        }
                    }
                }
            }
        }
    }
    out
}

/// Why one cited item does not exist, or `None` when it does.
fn check_cited(ws: &Workspace, before: &str, item: &str) -> Option<String> {
    let words: Vec<&str> = before.split_whitespace().collect();
    if words.ends_with(&["fuzz", "target"]) {
        let target = ws.root.join("fuzz/fuzz_targets").join(format!("{item}.rs"));
        return (!target.is_file())
            .then(|| format!("fuzz target `{item}` (no {})", target.display()));
    }
    if item.ends_with(".rs") {
        let exists =
            if item.contains('/') { ws.root.join(item).is_file() } else { ws.has_file_named(item) };
        return (!exists).then(|| format!("file `{item}` (no such file in the workspace)"));
    }
    let name = item.rsplit("::").next().unwrap_or(item);
    let is_ident = !name.is_empty()
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && !name.starts_with(|c: char| c.is_ascii_digit());
    if !is_ident {
        return Some(format!(
            "`{item}` is neither a test name, a `.rs` file nor a fuzz target; cite as \
             [`path/to/file.rs`: `test_name`], [`test_name`] or [fuzz target `name`]"
        ));
    }
    (!ws.fns.contains(name)).then(|| format!("test `{item}` (no `fn {name}` in any .rs file)"))
}

#[test]
fn every_test_cited_in_the_docs_exists() {
    let ws = Workspace::scan();
    let mut cited = 0;
    let mut missing = Vec::new();
    for doc in docs(&ws.root) {
        let md = std::fs::read_to_string(&doc).expect("a doc is readable");
        let rel = doc.strip_prefix(&ws.root).unwrap_or(&doc).display().to_string();
        for citation in citations(&pieces(&md)) {
            for (before, item) in &citation.spans {
                cited += 1;
                if let Some(why) = check_cited(&ws, before, item) {
                    missing.push(format!("{rel}: {why}"));
                }
            }
        }
    }
    assert!(cited > 0, "no citations found: has the citation form of SECURITY.md changed?");
    assert!(
        missing.is_empty(),
        "{} of {cited} cited tests, files or fuzz targets do not exist:\n  {}",
        missing.len(),
        missing.join("\n  ")
    );
}

/// The link targets (`[text](target)`) of a document's prose, and its bare
/// `http://`, `https://` and `<...>` addresses.
fn links<'a>(pieces: &[Piece<'a>]) -> Vec<&'a str> {
    let mut out = Vec::new();
    for piece in pieces {
        let Piece::Text(text) = piece else { continue };
        let mut rest = *text;
        while let Some(at) = rest.find("](") {
            let target = &rest[at + 2..];
            let end = target.find(')').unwrap_or(target.len());
            out.push(target[..end].trim());
            rest = &target[end..];
        }
        for scheme in ["http://", "https://", "<mailto:", "www."] {
            let mut rest = *text;
            while let Some(at) = rest.find(scheme) {
                let addr = &rest[at..];
                let end = addr.find(|c: char| c.is_whitespace() || c == '>' || c == ')');
                out.push(&addr[..end.unwrap_or(addr.len())]);
                rest = &addr[scheme.len()..];
            }
        }
    }
    out
}

/// `#123` as a word of prose: a bare issue number.
fn issue_numbers(pieces: &[Piece<'_>]) -> Vec<String> {
    let mut out = Vec::new();
    for piece in pieces {
        let Piece::Text(text) = piece else { continue };
        for word in text.split(|c: char| c.is_whitespace() || "(),;:.!?".contains(c)) {
            let digits = word.strip_prefix('#').unwrap_or("");
            if !digits.is_empty() && digits.chars().take_while(char::is_ascii_digit).count() > 0 {
                out.push(word.to_owned());
            }
        }
    }
    out
}

#[test]
fn the_docs_link_only_inside_the_repository_and_cite_no_issue_numbers() {
    let root = root();
    let mut problems = Vec::new();
    for doc in docs(&root) {
        let md = std::fs::read_to_string(&doc).expect("a doc is readable");
        let rel = doc.strip_prefix(&root).unwrap_or(&doc).display().to_string();
        let pieces = pieces(&md);
        let mut seen = HashSet::new();
        for link in links(&pieces).into_iter().filter(|l| seen.insert(*l)) {
            let path = link.split('#').next().unwrap_or("");
            if link.contains("://") || link.starts_with("www.") || link.starts_with("<mailto:") {
                problems.push(format!("{rel}: `{link}` points outside the repository"));
            } else if !path.is_empty() {
                let dir = doc.parent().unwrap_or(&root);
                let target = dir.join(path);
                let inside = target
                    .canonicalize()
                    .ok()
                    .zip(root.canonicalize().ok())
                    .is_some_and(|(t, r)| t.starts_with(r));
                if !inside {
                    problems.push(format!("{rel}: `{link}` points to no file of the repository"));
                }
            }
        }
        for number in issue_numbers(&pieces) {
            problems.push(format!("{rel}: bare issue number `{number}`"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn citations_are_bracketed_code_spans_outside_links_and_code_blocks() {
    let md = "A claim [`tests/a.rs`: `the_test`], a [link](y.md) and [`Not`](x.md).\n\
              ```\n[`in_a_block`]\n```\n\
              Also [`one`, fuzz target `two`] and `[not_a_citation]`.";
    let found: Vec<Vec<(String, &str)>> =
        citations(&pieces(md)).into_iter().map(|c| c.spans).collect();
    assert_eq!(
        found,
        vec![
            vec![(String::new(), "tests/a.rs"), (": ".to_owned(), "the_test")],
            vec![(String::new(), "one"), (", fuzz target ".to_owned(), "two")],
        ]
    );
    assert_eq!(links(&pieces(md)), vec!["y.md", "x.md"]);
    assert_eq!(
        issue_numbers(&pieces("fixed in #12, see `#3`, a #hash and #4.")),
        vec!["#12", "#4"]
    );
}
