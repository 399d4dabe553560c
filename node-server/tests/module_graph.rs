//! No module of pow-core or node-server depends, through any chain of others, on itself.
//!
//! The checker reads every `.rs` file under each crate's `src/` (no compiler, no rust-analyzer),
//! maps files to modules (`lib.rs`/`main.rs` are the crate root, `a.rs` and `a/mod.rs` are `a`,
//! nested likewise; inline `mod a { … }` too) and collects the references to the crate's own
//! modules: `crate::…`, `super::…`, `self::…`, and paths starting with a child module's name,
//! in `use` items and in code. Comments (doc links included), strings and `#[cfg(test)]` items
//! are skipped: tests may reach anywhere.
//!
//! # What counts as an edge
//! `m -> n` when code in `m` names something **defined** in `n`. A path resolves to the deepest
//! module it names, and a name that module only imports (`pub use child::Thing`, or a private
//! `use`) is followed to where it is defined, as cargo-modules does (it builds its graph from
//! the compiler's resolution, on items): `crate::Difficulty` in pow-core is an edge to
//! `difficulty`, not to the crate root that re-exports it.
//!
//! Declaring a child (`mod store;`) is not an edge: cargo-modules draws it as "owns", and on a
//! graph of modules (not items) counting it would make every child that uses its parent a
//! cycle. Everything else counts, between parent and child too: a façade that re-exports its
//! children (`pub use store::Store`, an edge `etcd -> etcd::store`) and defines something its
//! children use (`super::CLAIM_DEADLINE`, an edge `etcd::store -> etcd`) is a cycle: the two
//! are one module in two files. The rule is stricter than cargo-modules' `--acyclic` on items,
//! where the two edges would end at different items; on modules they are the same cycle.
//!
//! Every cycle found is printed as `a -> b -> a`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

// ---------------------------------------------------------------------------------------------
// Tokens

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Ident(String),
    /// `::`
    Sep,
    Punct(char),
}

/// Rust source to identifiers, `::` and punctuation; comments, literals and lifetimes dropped.
fn tokens(src: &str) -> Vec<Tok> {
    let s: Vec<char> = src.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    let at = |i: usize| s.get(i).copied().unwrap_or('\0');
    while i < s.len() {
        let c = s[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '/' && at(i + 1) == '/' {
            while i < s.len() && s[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && at(i + 1) == '*' {
            let mut depth = 0;
            while i < s.len() {
                if s[i] == '/' && at(i + 1) == '*' {
                    depth += 1;
                    i += 2;
                } else if s[i] == '*' && at(i + 1) == '/' {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
        } else if c == '"' {
            i = skip_string(&s, i + 1);
        } else if (c == 'r' || (c == 'b' && at(i + 1) == 'r'))
            && matches!(at(i + 1 + usize::from(c == 'b')), '"' | '#')
        {
            // Raw (byte) strings: r"…", r#"…"#.
            let mut j = i + 1 + usize::from(c == 'b');
            let mut hashes = 0;
            while at(j) == '#' {
                hashes += 1;
                j += 1;
            }
            if at(j) != '"' {
                // `r#ident`: a raw identifier.
                let start = j;
                while at(j).is_alphanumeric() || at(j) == '_' {
                    j += 1;
                }
                out.push(Tok::Ident(s[start..j].iter().collect()));
                i = j;
                continue;
            }
            j += 1;
            loop {
                if j >= s.len() {
                    break;
                }
                if s[j] == '"' && (1..=hashes).all(|k| at(j + k) == '#') {
                    j += 1 + hashes;
                    break;
                }
                j += 1;
            }
            i = j;
        } else if c == 'b' && at(i + 1) == '"' {
            i = skip_string(&s, i + 2);
        } else if c == 'b' && at(i + 1) == '\'' {
            i = skip_char(&s, i + 2);
        } else if c == '\'' {
            // A char literal, or a lifetime / label ('a, 'static).
            if at(i + 1) == '\\' || at(i + 2) == '\'' {
                i = skip_char(&s, i + 1);
            } else {
                i += 1;
                while at(i).is_alphanumeric() || at(i) == '_' {
                    i += 1;
                }
            }
        } else if c.is_alphabetic() || c == '_' {
            let start = i;
            while at(i).is_alphanumeric() || at(i) == '_' {
                i += 1;
            }
            out.push(Tok::Ident(s[start..i].iter().collect()));
        } else if c.is_ascii_digit() {
            while at(i).is_alphanumeric()
                || at(i) == '_'
                || (at(i) == '.' && at(i + 1).is_ascii_digit())
            {
                i += 1;
            }
        } else if c == ':' && at(i + 1) == ':' {
            out.push(Tok::Sep);
            i += 2;
        } else {
            out.push(Tok::Punct(c));
            i += 1;
        }
    }
    out
}

/// Past the closing quote of a string whose body starts at `i`.
fn skip_string(s: &[char], mut i: usize) -> usize {
    while i < s.len() {
        match s[i] {
            '\\' => i += 2,
            '"' => return i + 1,
            _ => i += 1,
        }
    }
    i
}

/// Past the closing quote of a char literal whose body starts at `i`.
fn skip_char(s: &[char], mut i: usize) -> usize {
    while i < s.len() {
        match s[i] {
            '\\' => i += 2,
            '\'' => return i + 1,
            _ => i += 1,
        }
    }
    i
}

// ---------------------------------------------------------------------------------------------
// Modules

/// A module path inside its crate: `[]` is the root, `["etcd", "store"]` is `etcd::store`.
type ModPath = Vec<String>;

/// What one module's source says, before resolution.
#[derive(Default, Debug)]
struct Module {
    /// Child modules, declared by `mod`.
    children: BTreeSet<String>,
    /// `use` imports by the name they bind: the path as written (a `use a::b::*` is kept in
    /// `globs`).
    imports: BTreeMap<String, Vec<String>>,
    globs: Vec<Vec<String>>,
    /// Every path written in the module (`use` leaves included), as written.
    paths: Vec<Vec<String>>,
}

/// One crate: its modules by path, and the files of child modules still to read.
#[derive(Default, Debug)]
struct Crate {
    name: String,
    modules: BTreeMap<ModPath, Module>,
}

/// The item following attributes: `cfg(test)` (or `cfg(all(test, …))`) says skip it.
fn test_only(attr: &[Tok]) -> bool {
    fn pred(t: &[Tok]) -> bool {
        match t {
            [Tok::Ident(w)] => w == "test",
            [Tok::Ident(all), Tok::Punct('('), inner @ .., Tok::Punct(')')] if all == "all" => {
                split_args(inner).iter().any(|a| pred(a))
            }
            _ => false,
        }
    }
    match attr {
        [Tok::Ident(cfg), Tok::Punct('('), inner @ .., Tok::Punct(')')] if cfg == "cfg" => {
            pred(inner)
        }
        _ => false,
    }
}

/// Comma-separated arguments at depth 0.
fn split_args(t: &[Tok]) -> Vec<&[Tok]> {
    let mut out = Vec::new();
    let (mut depth, mut start) = (0i32, 0);
    for (i, tok) in t.iter().enumerate() {
        match tok {
            Tok::Punct('(' | '[' | '{') => depth += 1,
            Tok::Punct(')' | ']' | '}') => depth -= 1,
            Tok::Punct(',') if depth == 0 => {
                out.push(&t[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&t[start..]);
    out
}

/// The index just past the bracket group opening at `i`.
fn close(t: &[Tok], i: usize) -> usize {
    let mut depth = 0;
    for (j, tok) in t.iter().enumerate().skip(i) {
        match tok {
            Tok::Punct('(' | '[' | '{') => depth += 1,
            Tok::Punct(')' | ']' | '}') => {
                depth -= 1;
                if depth == 0 {
                    return j + 1;
                }
            }
            _ => {}
        }
    }
    t.len()
}

/// The index just past the item starting at `i`: its `;` or its closing `}` at depth 0.
fn end_of_item(t: &[Tok], mut i: usize) -> usize {
    while i < t.len() {
        match t[i] {
            Tok::Punct(';') => return i + 1,
            Tok::Punct('{') => return close(t, i),
            Tok::Punct('(' | '[') => i = close(t, i),
            _ => i += 1,
        }
    }
    i
}

/// The index just past the `;` ending the statement at `i` (groups in it skipped).
fn end_of_statement(t: &[Tok], mut i: usize) -> usize {
    while i < t.len() {
        match t[i] {
            Tok::Punct(';') => return i + 1,
            Tok::Punct('(' | '[' | '{') => i = close(t, i),
            _ => i += 1,
        }
    }
    i
}

/// A `use` tree from `i` (after `use`) to its `;`: each leaf's path as written and the name
/// it binds (`None` for a glob).
fn use_tree(t: &[Tok], prefix: &[String], out: &mut Vec<(Vec<String>, Option<String>)>) {
    // One tree: segments separated by `::`, then a leaf, `*`, or `{ trees }`.
    let mut path = prefix.to_vec();
    let mut i = 0;
    if t.first() == Some(&Tok::Sep) {
        i = 1; // `::std::…`: an extern crate
        path.push("::".into());
    }
    while i < t.len() {
        match &t[i] {
            Tok::Ident(w) => {
                path.push(w.clone());
                i += 1;
                match t.get(i) {
                    Some(Tok::Sep) => i += 1,
                    Some(Tok::Ident(as_)) if as_ == "as" => {
                        if let Some(Tok::Ident(alias)) = t.get(i + 1) {
                            if path.last().map(String::as_str) == Some("self") {
                                path.pop();
                            }
                            out.push((path, Some(alias.clone())));
                        }
                        return;
                    }
                    _ => {
                        let name = if w == "self" {
                            path.pop();
                            path.last().cloned()
                        } else {
                            Some(w.clone())
                        };
                        out.push((path, name));
                        return;
                    }
                }
            }
            Tok::Punct('*') => {
                out.push((path, None));
                return;
            }
            Tok::Punct('{') => {
                let end = close(t, i);
                for sub in split_args(&t[i + 1..end - 1]) {
                    if !sub.is_empty() {
                        use_tree(sub, &path, out);
                    }
                }
                return;
            }
            _ => return,
        }
    }
}

/// Reads the items of one module body (a file, or an inline `mod … { }`).
fn read_body(t: &[Tok], here: &ModPath, krate: &mut Crate) {
    let mut m = Module::default();
    let mut i = 0;
    let mut skip_next = false;
    while i < t.len() {
        // Attributes: `#[…]`, `#![…]`.
        if t[i] == Tok::Punct('#') {
            let mut j = i + 1;
            if t.get(j) == Some(&Tok::Punct('!')) {
                j += 1;
            }
            if t.get(j) == Some(&Tok::Punct('[')) {
                let end = close(t, j);
                if test_only(&t[j + 1..end - 1]) {
                    skip_next = true;
                }
                i = end;
                continue;
            }
        }
        if skip_next {
            skip_next = false;
            i = end_of_item(t, i);
            continue;
        }
        match &t[i] {
            Tok::Ident(w) if w == "mod" => {
                if let Some(Tok::Ident(name)) = t.get(i + 1) {
                    m.children.insert(name.clone());
                    if t.get(i + 2) == Some(&Tok::Punct('{')) {
                        let end = close(t, i + 2);
                        let mut child = here.clone();
                        child.push(name.clone());
                        read_body(&t[i + 3..end - 1], &child, krate);
                        i = end;
                        continue;
                    }
                    i += 2;
                    continue;
                }
                i += 1;
            }
            Tok::Ident(w) if w == "use" => {
                let end = end_of_statement(t, i);
                let mut leaves = Vec::new();
                use_tree(&t[i + 1..end - 1], &[], &mut leaves);
                for (path, name) in leaves {
                    match name {
                        Some(n) => {
                            if n != "_" {
                                m.imports.insert(n, path.clone());
                            }
                            m.paths.push(path);
                        }
                        None => {
                            m.globs.push(path.clone());
                            m.paths.push(path);
                        }
                    }
                }
                i = end;
            }
            Tok::Ident(w) if i == 0 || t[i - 1] != Tok::Sep => {
                // A path in code: `a::b::c`, not the tail of `x::<T>::a`.
                let mut path = vec![w.clone()];
                let mut j = i + 1;
                while t.get(j) == Some(&Tok::Sep) {
                    match t.get(j + 1) {
                        Some(Tok::Ident(next)) => {
                            path.push(next.clone());
                            j += 2;
                        }
                        _ => break,
                    }
                }
                if path.len() > 1 {
                    m.paths.push(path);
                }
                i = j;
            }
            _ => i += 1,
        }
    }
    krate.modules.insert(here.clone(), m);
}

/// Reads a crate from its root file, following `mod` declarations to their files.
fn read_crate(name: &str, root: &Path) -> Crate {
    let mut krate = Crate {
        name: name.into(),
        ..Crate::default()
    };
    // (module path, file, directory its children live in)
    let mut todo = vec![(
        Vec::new(),
        root.to_path_buf(),
        root.parent().unwrap().to_path_buf(),
    )];
    while let Some((path, file, dir)) = todo.pop() {
        let src =
            std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        read_body(&tokens(&src), &path, &mut krate);
        let children: Vec<String> = krate.modules[&path].children.iter().cloned().collect();
        for child in children {
            let mut p = path.clone();
            p.push(child.clone());
            if krate.modules.contains_key(&p) {
                continue; // inline
            }
            let flat = dir.join(format!("{child}.rs"));
            let nested = dir.join(&child).join("mod.rs");
            let (file, sub) = if flat.exists() {
                (flat, dir.join(&child))
            } else if nested.exists() {
                (nested, dir.join(&child))
            } else {
                // A `mod` behind a cfg(test) we did not skip, or generated: nothing to read.
                continue;
            };
            todo.push((p, file, sub));
        }
    }
    krate
}

// ---------------------------------------------------------------------------------------------
// Resolution

impl Crate {
    /// Where a path written in `here` leads: the module defining what it names, or `None`
    /// for another crate (std, a dependency) or a name that is not a module path (a local
    /// type's associated item, `Self::…`).
    fn resolve(&self, here: &ModPath, written: &[String]) -> Option<ModPath> {
        let (first, rest) = written.split_first()?;
        let (start, rest): (ModPath, &[String]) = match first.as_str() {
            "crate" => (Vec::new(), rest),
            "self" => (here.clone(), rest),
            "super" => {
                let mut p = here.clone();
                p.pop()?;
                let mut rest = rest;
                while rest.first().map(String::as_str) == Some("super") {
                    p.pop()?;
                    rest = &rest[1..];
                }
                (p, rest)
            }
            _ => {
                let m = self.modules.get(here)?;
                if m.children.contains(first) {
                    (here.clone(), written)
                } else if let Some(target) = m.imports.get(first) {
                    if target.len() == 1 && target[0] == *first {
                        return None; // `use tokio;`
                    }
                    let mut full = target.clone();
                    full.extend_from_slice(rest);
                    return self.resolve(here, &full);
                } else {
                    return None;
                }
            }
        };
        self.walk(start, rest)
    }

    /// From module `at`, down the segments `rest` to the module defining the last one.
    fn walk(&self, mut at: ModPath, mut rest: &[String]) -> Option<ModPath> {
        while let Some((s, tail)) = rest.split_first() {
            let m = self.modules.get(&at)?;
            if m.children.contains(s) {
                at.push(s.clone());
                rest = tail;
            } else if let Some(target) = m.imports.get(s) {
                // Imported here: follow it from here to where it is defined.
                let mut full = target.clone();
                full.extend_from_slice(tail);
                return match self.resolve(&at, &full) {
                    Some(p) => Some(p),
                    // Another crate's item re-exported here: this module is what we use.
                    None => Some(at),
                };
            } else {
                break; // defined in `at`
            }
        }
        Some(at)
    }

    /// The graph: each module's edges to the modules it uses, itself left out.
    fn graph(&self) -> Graph {
        let mut g = Graph::new();
        for (here, m) in &self.modules {
            let from = self.display(here);
            g.entry(from.clone()).or_default();
            for p in &m.paths {
                if let Some(to) = self.resolve(here, p) {
                    if &to != here {
                        g.entry(from.clone()).or_default().insert(self.display(&to));
                    }
                }
            }
        }
        g
    }

    fn display(&self, p: &ModPath) -> String {
        std::iter::once(self.name.as_str())
            .chain(p.iter().map(String::as_str))
            .collect::<Vec<_>>()
            .join("::")
    }
}

// ---------------------------------------------------------------------------------------------
// Cycles

type Graph = BTreeMap<String, BTreeSet<String>>;

/// Every elementary cycle, each once, starting from its smallest module: `[a, b, a]`.
/// Stops after `limit` cycles.
fn cycles(g: &Graph, limit: usize) -> Vec<Vec<String>> {
    let nodes: Vec<&String> = g.keys().collect();
    let mut out = Vec::new();
    for start in &nodes {
        // Cycles through `start` among modules not smaller than it (each found once).
        let mut stack = vec![(*start).clone()];
        let mut on: BTreeSet<String> = [(*start).clone()].into();
        dfs(g, start, &mut stack, &mut on, &mut out, limit);
        if out.len() >= limit {
            break;
        }
    }
    out
}

fn dfs(
    g: &Graph,
    start: &str,
    stack: &mut Vec<String>,
    on: &mut BTreeSet<String>,
    out: &mut Vec<Vec<String>>,
    limit: usize,
) {
    let last = stack.last().unwrap().clone();
    for next in g.get(&last).into_iter().flatten() {
        if out.len() >= limit {
            return;
        }
        if next == start {
            let mut c = stack.clone();
            c.push(start.to_string());
            out.push(c);
        } else if next.as_str() > start && !on.contains(next) {
            on.insert(next.clone());
            stack.push(next.clone());
            dfs(g, start, stack, on, out, limit);
            stack.pop();
            on.remove(next);
        }
    }
}

/// The report: one cycle a line, `a -> b -> a`.
fn describe(cycles: &[Vec<String>]) -> String {
    let mut s = String::new();
    for c in cycles {
        writeln!(s, "{}", c.join(" -> ")).unwrap();
    }
    s
}

fn crate_root(dir: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(dir)
}

// ---------------------------------------------------------------------------------------------
// The tests

#[test]
fn no_module_depends_on_itself() {
    let crates = [
        ("pow_core", crate_root("../pow-core/src/lib.rs")),
        ("node_server", crate_root("src/lib.rs")),
        ("node_server(bin)", crate_root("src/main.rs")),
    ];
    let mut found = Vec::new();
    let mut graph = Graph::new();
    for (name, root) in &crates {
        let g = read_crate(name, root).graph();
        found.extend(cycles(&g, 1000));
        graph.extend(g);
    }
    // The walk reached the modules, and resolved what they use.
    assert!(graph.len() > 40, "read only {} modules", graph.len());
    for (from, to) in [
        ("node_server::net::server", "node_server::net::http"),
        ("node_server::etcd::store", "node_server::etcd::decide"),
        ("pow_core::engine::avx2", "pow_core::engine::chunk"),
    ] {
        assert!(
            graph[from].contains(to),
            "no edge {from} -> {to}: {graph:#?}"
        );
    }
    assert!(
        found.is_empty(),
        "{} module cycle(s):\n{}",
        found.len(),
        describe(&found)
    );
}

/// A crate given as (file under src/, source) pairs, read through a temporary directory.
fn fixture(files: &[(&str, &str)]) -> Graph {
    let dir = tempfile::tempdir().unwrap();
    for (path, src) in files {
        let p = dir.path().join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, src).unwrap();
    }
    read_crate("k", &dir.path().join("lib.rs")).graph()
}

#[test]
fn the_checker_reports_a_hand_made_cycle() {
    let g: Graph = [
        ("a", &["b"][..]),
        ("b", &["c"]),
        ("c", &["a", "d"]),
        ("d", &[]),
        ("e", &["e"]),
    ]
    .into_iter()
    .map(|(n, to)| (n.to_string(), to.iter().map(|s| s.to_string()).collect()))
    .collect();
    let found = cycles(&g, 1000);
    assert_eq!(describe(&found), "a -> b -> c -> a\ne -> e\n");
    let acyclic: Graph = [("a", &["b"][..]), ("b", &[]), ("c", &["a", "b"])]
        .into_iter()
        .map(|(n, to)| (n.to_string(), to.iter().map(|s| s.to_string()).collect()))
        .collect();
    assert!(cycles(&acyclic, 1000).is_empty());
}

#[test]
fn two_files_that_use_each_other_are_a_cycle() {
    let g = fixture(&[
        ("lib.rs", "mod http; pub mod server;"),
        (
            "http.rs",
            "use crate::server::ConnectionSlot; pub struct Routes; fn f(_: &ConnectionSlot) {}",
        ),
        (
            "server.rs",
            "pub struct ConnectionSlot; fn g() { let _ = crate::http::Routes; }",
        ),
    ]);
    assert_eq!(
        describe(&cycles(&g, 10)),
        "k::http -> k::server -> k::http\n"
    );
}

#[test]
fn a_facade_its_children_use_is_a_cycle() {
    let g = fixture(&[
        ("lib.rs", "pub mod etcd;"),
        (
            "etcd/mod.rs",
            "mod store; pub use store::Store; pub const DEADLINE: u32 = 6;",
        ),
        ("etcd/store.rs", "use super::DEADLINE; pub struct Store;"),
    ]);
    assert_eq!(
        describe(&cycles(&g, 10)),
        "k::etcd -> k::etcd::store -> k::etcd\n"
    );
}

#[test]
fn re_exports_lead_to_the_defining_module_and_tests_comments_strings_do_not_count() {
    let g = fixture(&[
        (
            "lib.rs",
            "pub mod a; pub mod b; mod c; pub use a::Thing; pub use b::{self as bee, Other};",
        ),
        // `crate::Thing` is a's; the comment, the string and the test module name b.
        (
            "a.rs",
            r##"pub struct Thing; pub fn f() -> crate::Thing { Thing }
            // crate::b::Other
            /// [`crate::b::Other`]
            const S: &str = "crate::b::Other"; const R: &str = r#"super::b"#;
            #[cfg(test)] mod tests { use crate::b::Other; }
            #[cfg(all(test, unix))] use crate::b::Other;
            fn g<'a>(x: &'a str) -> char { let _ = x; 'b' }"##,
        ),
        // b uses a, through the root's re-export and through its own alias of a module.
        (
            "b.rs",
            "use super::Thing; use crate::a as alpha; pub struct Other; fn g() { alpha::f(); }",
        ),
        // The last name of a `{ … }` group counts like the others.
        ("c.rs", "use crate::{Thing, Other};"),
    ]);
    assert!(cycles(&g, 10).is_empty(), "{g:#?}");
    assert_eq!(g["k::b"], ["k::a".to_string()].into());
    assert_eq!(g["k::a"], BTreeSet::new());
    assert_eq!(g["k"], ["k::a".to_string(), "k::b".to_string()].into());
    assert_eq!(g["k::c"], ["k::a".to_string(), "k::b".to_string()].into());
}

#[test]
fn inline_modules_and_super_chains_resolve() {
    let g = fixture(&[
        ("lib.rs", "pub mod search; pub mod hash;"),
        ("hash.rs", "pub struct Hash32;"),
        (
            "search.rs",
            "pub mod pool; pub mod parallel { use super::super::hash::Hash32; pub fn run() {} }",
        ),
        (
            "search/pool.rs",
            "fn go() { super::parallel::run(); self::helper(); } fn helper() {}",
        ),
    ]);
    assert_eq!(g["k::search::parallel"], ["k::hash".to_string()].into());
    assert_eq!(
        g["k::search::pool"],
        ["k::search::parallel".to_string()].into()
    );
    assert!(cycles(&g, 10).is_empty());
}
