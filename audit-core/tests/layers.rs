//! audit-core is built in layers, and this test keeps it so: no module
//! imports from a layer above its own, and no two modules import each
//! other, directly or through others.
//!
//! Bottom to top: JSON utilities, the diff, the model, canonical JSON and
//! hashing, the read and write contracts (integrity, redaction, the filter
//! language and queries, sinks, stores), the spool, the pipeline, the
//! per-request scope and the global auditor, the macro's support, and the
//! test kit. A file's imports tell its place.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Each top-level module of `src/` and its layer; a module may import from
/// its own layer and the ones below.
const LAYERS: &[(&str, u8)] = &[
    ("json", 0),
    ("diff", 1),
    ("model", 2),
    ("canonical", 3),
    ("integrity", 4),
    ("redact", 4),
    ("filter", 4),
    ("query", 4),
    ("sink", 4),
    ("store", 4),
    ("spool", 5),
    ("pipeline", 6),
    ("scope", 7),
    ("global", 7),
    ("macro_support", 8),
    ("testing", 9),
];

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("src is readable") {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// What the crate root re-exports, by name: `pub use model::{AuditEvent, ..}`
/// makes `crate::AuditEvent` an import from `model`.
fn root_names(lib: &str) -> BTreeMap<String, String> {
    let mut names = BTreeMap::new();
    for statement in lib.split(';') {
        let Some(rest) = statement.trim().strip_prefix("pub use ") else { continue };
        let Some((module, items)) = rest.split_once("::") else { continue };
        for name in items.split(|c: char| !(c.is_alphanumeric() || c == '_')) {
            if !name.is_empty() {
                names.insert(name.to_owned(), module.to_owned());
            }
        }
    }
    names
}

/// The first path segment of every `crate::` path in code (comments left
/// out), with `crate::{a::X, B}` read as `a` and `B`.
fn crate_paths(code: &str) -> BTreeSet<String> {
    let code: String = code
        .lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .flat_map(|l| [l, "\n"])
        .collect();
    let mut found = BTreeSet::new();
    let mut rest = code.as_str();
    while let Some(at) = rest.find("crate::") {
        let after = &rest[at + "crate::".len()..];
        if let Some(group) = after.strip_prefix('{') {
            let mut depth = 0;
            let mut item = String::new();
            for c in group.chars() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        found.insert(first_segment(&item));
                        item.clear();
                        continue;
                    }
                    _ => {}
                }
                item.push(c);
            }
            found.insert(first_segment(&item));
        } else {
            found.insert(first_segment(after));
        }
        rest = after;
    }
    found.remove("");
    found
}

fn first_segment(path: &str) -> String {
    path.trim().chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect()
}

/// Module → the modules it imports from.
fn imports() -> BTreeMap<String, BTreeSet<String>> {
    let lib = std::fs::read_to_string(src().join("lib.rs")).expect("lib.rs");
    let roots = root_names(&lib);
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in files {
        let relative = file.strip_prefix(src()).expect("under src");
        // The crate root wires the layers together; unit tests may reach
        // across them.
        if relative == Path::new("lib.rs") || file.file_name().is_some_and(|n| n == "tests.rs") {
            continue;
        }
        let module = relative
            .components()
            .next()
            .and_then(|c| c.as_os_str().to_str())
            .expect("a path")
            .trim_end_matches(".rs")
            .to_owned();
        let code = std::fs::read_to_string(&file).expect("readable source");
        for path in crate_paths(&code) {
            let target = roots.get(&path).cloned().unwrap_or(path);
            if target != module && target != "__private" {
                graph.entry(module.clone()).or_default().insert(target);
            }
        }
    }
    graph
}

#[test]
fn every_module_has_a_layer() {
    let layers: BTreeMap<&str, u8> = LAYERS.iter().copied().collect();
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    for file in files {
        let relative = file.strip_prefix(src()).expect("under src");
        if relative.components().count() > 1 || relative == Path::new("lib.rs") {
            continue;
        }
        let module = relative.to_str().expect("UTF-8 path").trim_end_matches(".rs");
        assert!(layers.contains_key(module), "src/{module}.rs has no layer: add it to LAYERS");
    }
    for dir in std::fs::read_dir(src()).expect("src").flatten() {
        if dir.path().is_dir() {
            let module = dir.file_name().into_string().expect("UTF-8 name");
            assert!(
                layers.contains_key(module.as_str()),
                "src/{module}/ has no layer: add it to LAYERS"
            );
        }
    }
}

#[test]
fn no_module_imports_from_a_layer_above_its_own() {
    let layers: BTreeMap<&str, u8> = LAYERS.iter().copied().collect();
    let mut upward = Vec::new();
    for (module, targets) in imports() {
        let own = layers[module.as_str()];
        for target in targets {
            let Some(&theirs) = layers.get(target.as_str()) else {
                panic!("{module} imports crate::{target}, which is no module with a layer");
            };
            if theirs > own {
                upward.push(format!("{module} (layer {own}) imports {target} (layer {theirs})"));
            }
        }
    }
    assert!(upward.is_empty(), "imports from a layer above:\n{}", upward.join("\n"));
}

#[test]
fn no_two_modules_import_each_other() {
    let graph = imports();
    // Depth-first search for a cycle, reporting the first one found.
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|n| n == node) {
            let mut cycle = path[at..].to_vec();
            cycle.push(node.to_owned());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_owned());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, graph, path, done) {
                return Some(cycle);
            }
        }
        path.pop();
        done.insert(node.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    for node in graph.keys() {
        if let Some(cycle) = visit(node, &graph, &mut Vec::new(), &mut done) {
            panic!("an import circle: {}", cycle.join(" -> "));
        }
    }
}

#[test]
fn the_checker_reads_grouped_and_root_imports() {
    let paths = crate_paths(
        "use crate::{model::{Actor, Outcome}, json::rfc3339_micros, Sink};\n\
         // crate::pipeline in a comment is no import\n\
         let x = crate::diff::diff(a, b);",
    );
    assert_eq!(paths.into_iter().collect::<Vec<_>>(), ["Sink", "diff", "json", "model"]);
    let roots = root_names("pub use sink::{Batch, Sink};\npub use diff::Change;");
    assert_eq!(roots["Sink"], "sink");
    assert_eq!(roots["Change"], "diff");
}
