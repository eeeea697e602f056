"""`python -m sim.hls_lint`: mechanical HLS rules for the synthesised C++ (hw/include, hw/src).

Rules (each finding names file:line):
  dynamic-memory  no new / delete / malloc / calloc / realloc / free
  stl-container   no std:: containers (vector, map, string, ...) nor their headers
  recursion       no function reaches itself through the call graph (names defined in the scanned files)
  loop-bound      every `for` loop compares against a compile-time constant (a literal or an
                  ALL_CAPS constant expression) or opens its braced body with
                  `#pragma HLS LOOP_TRIPCOUNT`
Comments and string literals are ignored. Code under `#ifndef __SYNTHESIS__` is C-sim only and
is skipped (everything else must synthesise). EXEMPT names headers that are not engine code;
`--all` checks them too.
"""
from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DIRS = [REPO / "hw" / "include", REPO / "hw" / "src"]
# Headers in hw/include that are not synthesised engine code (skipped by default; named so the
# owners can fix them): file name -> why.
EXEMPT = {
    "gemm.h": "the foundation's reference gemm_model (runtime loop bounds without LOOP_TRIPCOUNT); "
              "the RTL core replaces it in synthesis",
    "mac_array_blackbox.h": "C model of the RTL blackbox (std::vector) and its stream packer (loops without "
                            "LOOP_TRIPCOUNT), owned by the RTL work",
}
CONTAINERS = ("vector", "map", "unordered_map", "set", "unordered_set", "list", "deque", "queue", "stack",
              "string", "array", "multimap", "multiset", "priority_queue", "function", "shared_ptr", "unique_ptr")
KEYWORDS = {"if", "for", "while", "switch", "return", "sizeof", "catch", "defined", "else", "do"}
# a literal, or an ALL_CAPS name of two or more characters (single capitals like N, M, K are
# runtime sizes in this code base), optionally namespace-qualified
CONST_TOKEN = re.compile(r"^(?:\d+[uUlL]*|0x[0-9a-fA-F]+|(?:[A-Za-z_]\w*::)*[A-Z][A-Z0-9_]+)$")


@dataclass
class Finding:
    path: Path
    line: int
    rule: str
    message: str

    def __str__(self) -> str:
        try:
            shown = self.path.relative_to(REPO)
        except ValueError:
            shown = self.path
        return f"{shown}:{self.line}: [{self.rule}] {self.message}"


def strip_comments_and_strings(text: str) -> str:
    """Blanks comments and string/char literals, keeping newlines (line numbers stay right)."""
    out, i, n = [], 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i))
            i = j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append("".join(ch if ch == "\n" else " " for ch in text[i:j]))
            i = j
        elif c in "\"'":
            j = i + 1
            while j < n and text[j] != c:
                j += 2 if text[j] == "\\" else 1
            out.append(c + " " * (min(j, n) - i - 1) + (c if j < n else ""))
            i = j + 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def _is_csim_condition(line: str) -> bool:
    s = line.strip()
    return s.startswith("#ifndef __SYNTHESIS__") or bool(
        re.match(r"#(?:el)?if\s+!\s*defined\s*\(?\s*__SYNTHESIS__\s*\)?\s*$", s))


def strip_csim_only(text: str) -> str:
    """Blanks C-sim-only branches (`#ifndef __SYNTHESIS__`, `#if/#elif !defined(__SYNTHESIS__)`)
    up to the branch's next #elif/#else/#endif."""
    out, stack = [], []  # per #if depth: skipping state outside this #if
    skipping = False
    for line in text.split("\n"):
        s = line.strip()
        if s.startswith("#if"):
            stack.append(skipping)
            out.append("" if skipping else line)
            skipping = skipping or _is_csim_condition(s)
            continue
        if s.startswith(("#elif", "#else")) and stack:
            outer = stack[-1]
            skipping = outer or (s.startswith("#elif") and _is_csim_condition(s))
            out.append("" if outer else line)
            continue
        if s.startswith("#endif") and stack:
            skipping = stack.pop()
            out.append("" if skipping else line)
            continue
        out.append("" if skipping else line)
    return "\n".join(out)


def _line_of(text: str, pos: int) -> int:
    return text.count("\n", 0, pos) + 1


def _match_paren(text: str, start: int, open_c: str, close_c: str) -> int:
    depth = 0
    for i in range(start, len(text)):
        if text[i] == open_c:
            depth += 1
        elif text[i] == close_c:
            depth -= 1
            if depth == 0:
                return i
    return -1


def _is_constant_expr(expr: str) -> bool:
    tokens = [t for t in re.split(r"[\s+\-*/()<>=]+", expr) if t]
    return bool(tokens) and all(CONST_TOKEN.match(t) for t in tokens)


def check_loops(path: Path, text: str) -> list[Finding]:
    found = []
    for m in re.finditer(r"\bfor\s*\(", text):
        close = _match_paren(text, m.end() - 1, "(", ")")
        header = text[m.end():close]
        parts = header.split(";")
        if len(parts) != 3:
            found.append(Finding(path, _line_of(text, m.start()), "loop-bound", "cannot parse for-loop header"))
            continue
        cond = parts[1]
        cm = re.search(r"(<=|<|>=|>|!=)(.*)$", cond)
        if cm and _is_constant_expr(cm.group(2)):
            continue
        body = text[close + 1:].lstrip()
        if body.startswith("{"):
            inner = body[1:].lstrip()
            pragmas = []
            while inner.startswith("#pragma"):
                eol = inner.find("\n")
                pragmas.append(inner[:eol])
                inner = inner[eol + 1:].lstrip()
            if any("LOOP_TRIPCOUNT" in p for p in pragmas):
                continue
        found.append(Finding(path, _line_of(text, m.start()), "loop-bound",
                             f"loop bound `{cond.strip()}` is not a compile-time constant and the braced body "
                             "does not open with #pragma HLS LOOP_TRIPCOUNT"))
    return found


def function_bodies(text: str) -> dict[str, list[str]]:
    """name -> bodies of function definitions (simple brace matching)."""
    funcs: dict[str, list[str]] = {}
    for m in re.finditer(r"\b([A-Za-z_]\w*)\s*\(", text):
        name = m.group(1)
        if name in KEYWORDS:
            continue
        close = _match_paren(text, m.end() - 1, "(", ")")
        if close < 0:
            continue
        rest = text[close + 1:]
        tail = re.match(r"\s*(?:const\s*)?(?:noexcept\s*)?\{", rest)
        if not tail:
            continue
        prefix = text[max(0, m.start() - 200):m.start()].rstrip()
        if prefix.endswith((".", "->", "=", "return", ",", "(", "!", "&&", "||", "?", ":")) and not prefix.endswith("::"):
            continue
        brace = close + 1 + tail.end() - 1
        end = _match_paren(text, brace, "{", "}")
        if end > 0:
            funcs.setdefault(name, []).append(text[brace + 1:end])
    return funcs


def check_recursion(files: dict[Path, str]) -> list[Finding]:
    bodies: dict[str, list[str]] = {}
    where: dict[str, Path] = {}
    for path, text in files.items():
        for name, bs in function_bodies(text).items():
            bodies.setdefault(name, []).extend(bs)
            where.setdefault(name, path)
    graph = {name: {c for b in bs for c in re.findall(r"\b([A-Za-z_]\w*)\s*\(", b) if c in bodies}
             for name, bs in bodies.items()}
    found, state = [], {}

    def visit(node, stack):
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycle = stack[stack.index(nxt):] + [nxt] if nxt in stack else [node, nxt]
                found.append(Finding(where[nxt], 1, "recursion", " -> ".join(cycle)))
            elif nxt not in state:
                visit(nxt, stack + [nxt])
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    return found


def lint_text(path: Path, raw: str) -> tuple[list[Finding], str]:
    text = strip_csim_only(strip_comments_and_strings(raw))
    found = []
    for m in re.finditer(r"\b(new|delete|malloc|calloc|realloc|free)\b", text):
        nxt = text[m.end():m.end() + 2].lstrip()
        if m.group(1) in ("new", "delete") or nxt.startswith("("):
            found.append(Finding(path, _line_of(text, m.start()), "dynamic-memory", f"`{m.group(1)}`"))
    for m in re.finditer(r"\bstd\s*::\s*(\w+)", text):
        if m.group(1) in CONTAINERS:
            found.append(Finding(path, _line_of(text, m.start()), "stl-container", f"std::{m.group(1)}"))
    for m in re.finditer(r"#\s*include\s*<(\w+)>", text):
        if m.group(1) in CONTAINERS or m.group(1) in ("unordered_map", "memory", "functional"):
            found.append(Finding(path, _line_of(text, m.start()), "stl-container", f"#include <{m.group(1)}>"))
    found += check_loops(path, text)
    return found, text


def engine_files(include_exempt: bool = False) -> list[Path]:
    """The synthesised sources: hw/include/**/*.h and hw/src/**/*.cpp, less EXEMPT."""
    files = []
    for d in DEFAULT_DIRS:
        files += sorted(d.rglob("*.h")) + sorted(d.rglob("*.cpp"))
    return [f for f in files if include_exempt or f.name not in EXEMPT]


def lint(paths: list[Path] | None = None) -> list[Finding]:
    files = []
    for p in paths or engine_files():
        p = Path(p)
        files += sorted(p.rglob("*.h")) + sorted(p.rglob("*.cpp")) if p.is_dir() else [p]
    found, texts = [], {}
    for f in files:
        fnd, text = lint_text(f, f.read_text())
        found += fnd
        texts[f] = text
    return found + check_recursion(texts)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    paths = [Path(a) for a in argv if a != "--all"]
    if "--all" in argv:
        paths = engine_files(include_exempt=True)
    found = lint(paths or None)
    for f in found:
        print(f)
    if not paths:
        for name, why in EXEMPT.items():
            print(f"exempt: {name}: {why} (--all checks it)")
    print(f"hls_lint: {len(found)} finding(s)")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
