#!/usr/bin/env python3
"""Checks the structural invariants of ARCHITECTURE.md that the compiler
cannot, on each crate's source, as text (no build needed). Which crate may
depend on which is held by the crates themselves (and `cargo tree` in
`make invariants`); inside a crate:

1. no import cycles between modules: a module's `use` and `crate::`/`super::`
   paths name the modules it imports; no module reaches itself that way
   (`mod` declarations are not imports);
2. in the server crate (`src`), the domain and the stores know nothing of
   HTTP: no `axum`, `http`, `hyper`, `tower`, `tower_http`, `tower_governor`
   or `leptos_axum` path under src/domain/ or src/store/, and the domain no
   `redis` either (one crate, so no compiler holds this);
3. no source file holds more than 600 lines of non-test code.

Usage: module-graph.py SRC_DIR...   (default: src). Exit status 1 on a breach.
"""
import re
import sys
from pathlib import Path

SRC = Path("src")
HTTP_CRATES = ("axum", "http", "hyper", "tower", "tower_http", "tower_governor", "leptos_axum")
MAX_CODE_LINES = 600


def module_of(path: Path) -> tuple:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] in ("mod", "lib", "main"):
        parts.pop()
    return tuple(parts)


def without_tests(text: str) -> str:
    """The file without its `#[cfg(test)] mod tests { ... }` block (always last here)."""
    match = re.search(r"^#\[cfg\((all\()?test[^\n]*\n(pub(\([^)]*\))? )?mod \w+ \{", text, re.M)
    return text[: match.start()] if match else text


def strip_comments(text: str) -> str:
    text = re.sub(r"//[^\n]*", "", text)
    return re.sub(r"/\*.*?\*/", "", text, flags=re.S)


def use_paths(text: str):
    """Every path a `use` item names (braces expanded) and every inline crate::/super:: path."""
    for match in re.finditer(r"\buse\s+([^;]+);", text):
        yield from expand(re.sub(r"\s+", "", match.group(1)))
    for match in re.finditer(r"(?<![\w:])((?:crate|super)(?:::\w+)+)", text):
        yield match.group(1)


def expand(tree: str):
    brace = tree.find("{")
    if brace < 0:
        yield re.sub(r"\bas\b.*$", "", tree).rstrip(":")
        return
    prefix, inner = tree[:brace], tree[brace + 1 : tree.rindex("}")]
    depth, start = 0, 0
    for i, c in enumerate(inner + ","):
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
        elif c == "," and depth == 0:
            item = inner[start:i]
            start = i + 1
            if item:
                yield from expand(prefix + item)


def resolve(path: str, here: tuple, modules: set):
    parts = path.split("::")
    if parts[0] == "crate":
        base, rest = (), parts[1:]
    elif parts[0] in ("super", "self"):
        # A `foo.rs` file's `super` is its parent; so is a `foo/mod.rs`'s.
        base = here
        rest = parts
        while rest and rest[0] in ("super", "self"):
            if rest[0] == "super":
                base = base[:-1]
            rest = rest[1:]
    elif here + (parts[0],) in modules:
        base, rest = here, parts  # a child module, named relative to this one
    else:
        return None  # an external crate, or a name in scope
    full = base + tuple(r for r in rest if r != "*" and r != "self")
    for n in range(len(full), -1, -1):
        if full[:n] in modules:
            return full[:n]
    return None


def check(root: str) -> int:
    global SRC
    SRC = Path(root)
    files = sorted(SRC.rglob("*.rs"))
    modules = {module_of(f) for f in files}
    edges = {m: set() for m in modules}
    failures = []
    for f in files:
        here = module_of(f)
        text = f.read_text()
        code = strip_comments(without_tests(text))
        lines = [l for l in code.splitlines() if l.strip()]
        if len(lines) > MAX_CODE_LINES:
            failures.append(f"{f}: {len(lines)} lines of non-test code (at most {MAX_CODE_LINES})")
        for path in use_paths(code):
            target = resolve(path, here, modules)
            if target is not None and target != here:
                edges[here].add(target)
        layers = {("domain",): HTTP_CRATES + ("redis",), ("store",): HTTP_CRATES}
        forbidden = layers.get(here[:1], ()) if root == "src" else ()
        if forbidden:
            for match in re.finditer(r"(?<![\w:])(%s)::" % "|".join(forbidden), code):
                line = code[: match.start()].count("\n") + 1
                failures.append(f"{f}:{line}: src/{here[0]}/ uses `{match.group(1)}`")
    # Cycles: depth-first search for a back edge.
    state, stack = {}, []

    def visit(m):
        state[m] = "open"
        stack.append(m)
        for t in sorted(edges[m]):
            if state.get(t) == "open":
                cycle = stack[stack.index(t) :] + [t]
                failures.append("import cycle: " + " -> ".join("::".join(c) or "crate" for c in cycle))
            elif t not in state:
                visit(t)
        stack.pop()
        state[m] = "done"

    for m in sorted(modules):
        if m not in state:
            visit(m)
    for failure in failures:
        print("invariant broken:", failure)
    if not failures:
        n = sum(len(e) for e in edges.values())
        layers = "; no HTTP crate in the domain or the stores, no redis in the domain" if root == "src" else ""
        print(f"{root}: {len(modules)} modules, {n} imports, no cycles{layers}; no file over {MAX_CODE_LINES} lines of code")
    return 1 if failures else 0


if __name__ == "__main__":
    roots = sys.argv[1:] or ["src"]
    sys.exit(max(check(root) for root in roots))
