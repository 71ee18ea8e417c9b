//! The module graph of `src/`, read from the source: it has no cycle, and
//! each layer depends only on the layers below it (the map in `lib.rs`).
//!
//! A module depends on another when its code (comments and its unit tests
//! aside) names it: a `crate::` path, a `super::` path, a child module by
//! its name, or a name the crate root re-exports. Files are modules:
//! `shared/mod.rs` is `shared`, `shared/queue.rs` is `shared::queue`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// What each top-level module may use, besides itself. Everything not
/// listed is refused: a new edge is a decision, made here.
const LAYERS: &[(&str, &[&str])] = &[
    ("error", &[]),
    ("wire", &["error"]),
    ("config", &["error", "wire"]),
    ("shared", &["error", "wire", "config"]),
    ("background", &["error", "wire", "config", "shared"]),
    (
        "caller",
        &["error", "wire", "config", "shared", "background"],
    ),
    // Integrations and the capture server are users of the public API:
    // they reach the crate through what the root re-exports.
    ("integrations", &["crate"]),
    ("testing", &["crate"]),
];

/// The layers that use the crate only through its public API.
const PUBLIC_API_USERS: &[&str] = &["integrations", "testing"];

/// Every `.rs` file under `dir`.
fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `src/shared/queue.rs` -> `shared::queue`; `src/lib.rs` -> `crate`.
fn module_of(src: &Path, file: &Path) -> String {
    let relative = file.strip_prefix(src).unwrap().with_extension("");
    let mut parts: Vec<String> = relative
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    if matches!(parts.last().map(String::as_str), Some("mod" | "lib")) {
        parts.pop();
    }
    if parts.is_empty() {
        "crate".to_owned()
    } else {
        parts.join("::")
    }
}

/// The code of a file without comments and without its test modules (a
/// `#[cfg(test)]` or `#[cfg(all(test, ...))]` module comes last in every
/// file here).
fn code_of(text: &str) -> String {
    let test_module = ["#[cfg(test)]\nmod ", "#[cfg(all(test, statsd_loom))]\nmod "]
        .iter()
        .filter_map(|start| text.find(start))
        .min();
    let text = &text[..test_module.unwrap_or(text.len())];
    text.lines()
        .map(|line| match line.find("//") {
            // Not inside a string literal on the lines this crate has: a
            // `//` in code is a comment.
            Some(at) if !line[..at].contains('"') => &line[..at],
            _ => line,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The identifier paths in `code` that start at `anchor` (`crate::`,
/// `super::`), as their segments (a `{a, b::c}` group gives each).
fn paths_after(code: &str, anchor: &str) -> Vec<Vec<String>> {
    let mut paths = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find(anchor) {
        let before = rest[..at].chars().last();
        rest = &rest[at + anchor.len()..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue;
        }
        if let Some(group) = rest.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            for item in group[..end].split(',') {
                paths.push(segments(item.trim()));
            }
        } else {
            paths.push(segments(rest));
        }
    }
    paths
}

/// `a::b::C rest` -> `["a", "b", "C"]`.
fn segments(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    loop {
        let end = rest
            .find(|c: char| !(c.is_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        if end == 0 {
            break;
        }
        out.push(rest[..end].to_owned());
        match rest[end..].strip_prefix("::") {
            Some(next) => rest = next,
            None => break,
        }
    }
    out
}

/// The names a module re-exports (`pub use a::{B, C};`,
/// `pub(crate) use crate::a::B;`), each with the path it comes from,
/// absolute (without `crate`).
fn exports_of(module: &str, code: &str) -> BTreeMap<String, Vec<String>> {
    let own: Vec<String> = if module == "crate" {
        Vec::new()
    } else {
        segments(module)
    };
    let mut names = BTreeMap::new();
    for line in code.lines() {
        let line = line.trim();
        let Some(rest) = ["pub use ", "pub(crate) use ", "pub(super) use "]
            .iter()
            .find_map(|start| line.strip_prefix(start))
        else {
            continue;
        };
        let rest = rest.trim_end_matches(';');
        let (base, items) = match rest.find("::{") {
            Some(at) => (&rest[..at], rest[at + 3..].trim_end_matches('}')),
            None => match rest.rsplit_once("::") {
                Some(split) => split,
                None => continue,
            },
        };
        let base = segments(base);
        let absolute: Vec<String> = match base.first().map(String::as_str) {
            Some("crate") => base[1..].to_vec(),
            Some("super") => own[..own.len() - 1]
                .iter()
                .cloned()
                .chain(base[1..].iter().cloned())
                .collect(),
            Some("std" | "core" | "alloc" | "loom" | "tokio") | None => continue,
            Some(_) => own.iter().cloned().chain(base).collect(),
        };
        for item in items.split(',') {
            let item = item.trim();
            let name = item.rsplit(" as ").next().unwrap_or(item).trim();
            let source = item.split(" as ").next().unwrap_or(item).trim();
            if !name.is_empty() && name != "*" {
                let mut path = absolute.clone();
                path.extend(segments(source));
                names.insert(name.to_owned(), path);
            }
        }
    }
    names
}

/// The module that defines what `path` names: the longest known module it
/// starts with, followed through that module's re-exports.
fn resolve(
    modules: &BTreeSet<String>,
    exports: &BTreeMap<String, BTreeMap<String, Vec<String>>>,
    path: &[String],
) -> Option<String> {
    let (n, module) = (1..=path.len())
        .rev()
        .map(|n| (n, path[..n].join("::")))
        .find(|(_, candidate)| modules.contains(candidate))?;
    if let Some(next) = path.get(n) {
        if let Some(source) = exports.get(&module).and_then(|e| e.get(next)) {
            if source[..] != path[..] {
                return resolve(modules, exports, source).or(Some(module));
            }
        }
    }
    Some(module)
}

/// Module -> the modules whose items its code names.
fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    let code: BTreeMap<String, String> = files
        .iter()
        .map(|file| {
            let text = std::fs::read_to_string(file).unwrap();
            (module_of(&src, file), code_of(&text))
        })
        .collect();
    let modules: BTreeSet<String> = code.keys().cloned().collect();
    let exports: BTreeMap<String, BTreeMap<String, Vec<String>>> = code
        .iter()
        .map(|(module, code)| (module.clone(), exports_of(module, code)))
        .collect();
    let root = &exports["crate"];
    let mut graph = BTreeMap::new();
    for (module, code) in &code {
        let mut uses = BTreeSet::new();
        let own: Vec<String> = if module == "crate" {
            Vec::new()
        } else {
            segments(module)
        };
        let mut paths: Vec<Vec<String>> = Vec::new();
        // The public API's users see the crate as its users do: a name the
        // root re-exports is a use of `crate`, not of where it is defined.
        let api_user = PUBLIC_API_USERS.contains(&top(module));
        for path in paths_after(code, "crate::") {
            if api_user && path.first().is_some_and(|first| root.contains_key(first)) {
                uses.insert("crate".to_owned());
            } else {
                paths.push(path);
            }
        }
        for path in paths_after(code, "super::") {
            paths.push(own[..own.len() - 1].iter().cloned().chain(path).collect());
        }
        // A child module named by a relative path (`use queue::Queue;`).
        for child in modules.iter().filter(|m| {
            let m = segments(m);
            m.len() == own.len() + 1 && m[..own.len()] == own[..]
        }) {
            let name = child.rsplit("::").next().unwrap();
            for (at, _) in code.match_indices(&format!("{name}::")) {
                let before = code[..at].chars().last();
                if !before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
                    paths.push(own.iter().cloned().chain(segments(&code[at..])).collect());
                }
            }
        }
        for path in paths {
            let path = if path.first().is_some_and(|first| root.contains_key(first)) {
                root[&path[0]]
                    .iter()
                    .cloned()
                    .chain(path[1..].iter().cloned())
                    .collect()
            } else {
                path
            };
            uses.extend(resolve(&modules, &exports, &path));
        }
        uses.remove(module);
        graph.insert(module.clone(), uses);
    }
    graph
}

fn top(module: &str) -> &str {
    module.split("::").next().unwrap()
}

#[test]
fn the_module_graph_has_no_cycle() {
    let graph = graph();
    assert!(graph.len() > 40, "read only {} modules", graph.len());
    // Depth-first, with the path so far: a module met again on it closes a
    // cycle.
    fn visit(
        graph: &BTreeMap<String, BTreeSet<String>>,
        module: &str,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
        cycles: &mut Vec<Vec<String>>,
    ) {
        if let Some(at) = path.iter().position(|m| m == module) {
            cycles.push(path[at..].to_vec());
            return;
        }
        if !done.insert(module.to_owned()) {
            return;
        }
        path.push(module.to_owned());
        for next in graph.get(module).into_iter().flatten() {
            if next != "crate" {
                visit(graph, next, path, done, cycles);
            }
        }
        path.pop();
    }
    let (mut done, mut cycles) = (BTreeSet::new(), Vec::new());
    for module in graph.keys() {
        visit(&graph, module, &mut Vec::new(), &mut done, &mut cycles);
    }
    assert!(cycles.is_empty(), "module cycles: {cycles:?}");
}

#[test]
fn each_layer_uses_only_the_layers_below_it() {
    let layers: BTreeMap<&str, &[&str]> = LAYERS.iter().copied().collect();
    let mut wrong = Vec::new();
    for (module, uses) in graph() {
        if module == "crate" {
            continue;
        }
        let allowed = layers
            .get(top(&module))
            .unwrap_or_else(|| panic!("{module}: a layer not in LAYERS"));
        for used in uses {
            let layer = if used == "crate" { "crate" } else { top(&used) };
            if layer != top(&module) && !allowed.contains(&layer) {
                wrong.push(format!("{module} -> {used}"));
            }
        }
    }
    assert!(wrong.is_empty(), "edges against the layers: {wrong:#?}");
}

/// The reader itself: it finds the edges it must (so the two tests above
/// can fail).
#[test]
fn the_reader_finds_known_edges() {
    let graph = graph();
    let uses = |from: &str, to: &str| graph.get(from).is_some_and(|u| u.contains(to));
    assert!(uses("shared::queue", "shared::slot"), "a crate:: path");
    assert!(uses("shared::aggregate", "shared::mutex"), "a super:: path");
    assert!(uses("shared", "shared::queue"), "a child by name");
    assert!(
        uses("caller::connector", "shared"),
        "a crate::{{...}} group"
    );
    assert!(uses("integrations::metrics", "crate"), "a root re-export");
}
