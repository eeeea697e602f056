"""`python -m sim.hls_lint`: mechanical UG1399 rules for the synthesised C++ (hw/include, hw/src).

Every file there is checked; there are no exemptions. Code that is not synthesised must sit under
`#ifndef __SYNTHESIS__` (or `#if !defined(__SYNTHESIS__)`), which the lint skips.

Rules (each finding names file:line):
  dynamic-memory     no new / delete / malloc / calloc / realloc / free
  stl-container      no std:: containers (vector, map, string, function, ...) nor their headers
  recursion          no function reaches itself through the call graph (names defined in the scanned files)
  loop-bound         every `for` loop compares against a compile-time constant (a literal or an
                     ALL_CAPS constant expression) or opens its braced body with
                     `#pragma HLS LOOP_TRIPCOUNT`
  tripcount-literal  LOOP_TRIPCOUNT min/max/avg are generated names (ONION_TRIP_*, from
                     hw/spec/engine_spec.json "trip_counts"), or a helper's template parameter that
                     its calls set to one, never a number copied by hand
  function-pointer   no function pointer (`(*f)(...)`), no functor (`operator()`), no template
                     parameter used as a callable (a parameter of template type T that is called)
  maxi-elementwise   no element-wise DDR access in loops: a DDR pointer is not indexed or
                     dereferenced inside a `for` loop, except in the burst helpers (functions named
                     burst_*), whose loops Vitis turns into AXI bursts. DDR pointers are the top
                     function's m_axi ports (`#pragma HLS INTERFACE m_axi port=...`) and every
                     parameter they reach through calls (an argument expression naming one, e.g.
                     `aux + a.keys_off`), traced over all scanned files. Pointers into on-chip
                     buffers (the engine's pool, passed to the ops as word_t *) are not DDR; a file
                     without a top function is checked as if every pointer parameter were a port.
Comments and string literals are ignored.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DIRS = [REPO / "hw" / "include", REPO / "hw" / "src"]
RULES = (
    "dynamic-memory",
    "stl-container",
    "recursion",
    "loop-bound",
    "tripcount-literal",
    "function-pointer",
    "maxi-elementwise",
)
BURST_HELPER = re.compile(r"^burst_\w+$")
CONTAINERS = (
    "vector",
    "map",
    "unordered_map",
    "set",
    "unordered_set",
    "list",
    "deque",
    "queue",
    "stack",
    "string",
    "array",
    "multimap",
    "multiset",
    "priority_queue",
    "function",
    "shared_ptr",
    "unique_ptr",
)
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
        re.match(r"#(?:el)?if\s+!\s*defined\s*\(?\s*__SYNTHESIS__\s*\)?\s*$", s)
    )


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
        header = text[m.end() : close]
        parts = header.split(";")
        if len(parts) != 3:
            found.append(Finding(path, _line_of(text, m.start()), "loop-bound", "cannot parse for-loop header"))
            continue
        cond = parts[1]
        cm = re.search(r"(<=|<|>=|>|!=)(.*)$", cond)
        if cm and _is_constant_expr(cm.group(2)):
            continue
        body = text[close + 1 :].lstrip()
        if body.startswith("{"):
            inner = body[1:].lstrip()
            pragmas = []
            while inner.startswith("#pragma"):
                eol = inner.find("\n")
                pragmas.append(inner[:eol])
                inner = inner[eol + 1 :].lstrip()
            if any("LOOP_TRIPCOUNT" in p for p in pragmas):
                continue
        found.append(
            Finding(
                path,
                _line_of(text, m.start()),
                "loop-bound",
                f"loop bound `{cond.strip()}` is not a compile-time constant and the braced body "
                "does not open with #pragma HLS LOOP_TRIPCOUNT",
            )
        )
    return found


def check_tripcount_literals(path: Path, text: str) -> list[Finding]:
    return [
        Finding(
            path,
            _line_of(text, m.start()),
            "tripcount-literal",
            f"`{m.group(0).strip()}`: use a generated ONION_TRIP_* name (engine_spec.json trip_counts)",
        )
        for m in re.finditer(r"LOOP_TRIPCOUNT[^\n]*?\b(?:min|max|avg)\s*=\s*\d+", text)
    ]


def check_tripcount_parameters(texts: dict[Path, str]) -> list[Finding]:
    """A LOOP_TRIPCOUNT value that is a name but not ONION_TRIP_* must be an int template parameter of
    the function it is in, and every call of that function (`name<...>(`) sets it to an ONION_TRIP_* name."""
    found, params = [], {}  # function name -> (path, line, index of the trip-count parameter)
    for path, text in texts.items():
        spans = []
        for t in re.finditer(r"\btemplate\s*<", text):
            close = _match_paren(text, t.end() - 1, "<", ">")
            nxt = next(_functions(text[close + 1 :]), None)
            if nxt is not None:
                name, _params, body, start, _at = nxt
                ints = [_param_name(a) for a in _split_args(text[t.end() : close])]
                spans.append((close + 1 + start, close + 1 + start + len(body), name, ints))
        for m in re.finditer(r"LOOP_TRIPCOUNT[^\n]*", text):
            for v in re.findall(r"\b(?:min|max|avg)\s*=\s*([A-Za-z_]\w*)", m.group(0)):
                if v.startswith("ONION_TRIP_"):
                    continue
                owner = [(n, ints) for b0, b1, n, ints in spans if b0 <= m.start() < b1 and v in ints]
                if owner:
                    params[owner[0][0]] = (path, _line_of(text, m.start()), owner[0][1].index(v))
                else:
                    found.append(
                        Finding(
                            path,
                            _line_of(text, m.start()),
                            "tripcount-literal",
                            f"`{v}`: use a generated ONION_TRIP_* name or a template parameter set to one",
                        )
                    )
    for path, text in texts.items():
        for name, (_tpath, _tline, index) in params.items():
            for c in re.finditer(r"\b" + name + r"\s*<([^<>;]*)>\s*\(", text):
                args = [a.strip() for a in _split_args(c.group(1))]
                if index >= len(args) or not re.fullmatch(r"ONION_TRIP_\w+", args[index]):
                    found.append(
                        Finding(
                            path,
                            _line_of(text, c.start()),
                            "tripcount-literal",
                            f"{name}<{c.group(1)}>: its trip-count parameter takes an ONION_TRIP_* name",
                        )
                    )
    return found


def _functions(text: str) -> Iterator[tuple[str, str, str, int, int]]:
    """(name, parameter text, body text, body start) of every function definition."""
    for m in re.finditer(r"\b([A-Za-z_]\w*)\s*\(", text):
        name = m.group(1)
        if name in KEYWORDS:
            continue
        close = _match_paren(text, m.end() - 1, "(", ")")
        if close < 0:
            continue
        tail = re.match(r"\s*(?:const\s*)?(?:noexcept\s*)?\{", text[close + 1 :])
        if not tail:
            continue
        prefix = text[max(0, m.start() - 200) : m.start()].rstrip()
        if prefix.endswith((".", "->", "=", "return", ",", "(", "!", "&&", "||", "?", ":")) and not prefix.endswith(
            "::"
        ):
            continue
        brace = close + 1 + tail.end() - 1
        end = _match_paren(text, brace, "{", "}")
        if end > 0:
            yield name, text[m.end() : close], text[brace + 1 : end], brace + 1, m.start()


def check_function_pointers(path: Path, text: str) -> list[Finding]:
    found = [
        Finding(path, _line_of(text, m.start()), "function-pointer", "function pointer `(*...)(...)`")
        for m in re.finditer(r"\(\s*\*\s*\w*\s*\)\s*\(", text)
    ]
    found += [
        Finding(path, _line_of(text, m.start()), "function-pointer", "functor `operator()`")
        for m in re.finditer(r"\boperator\s*\(\s*\)\s*\(", text)
    ]
    for t in re.finditer(r"\btemplate\s*<", text):
        close = _match_paren(text, t.end() - 1, "<", ">")
        type_params = re.findall(r"\b(?:class|typename)\s+(\w+)", text[t.end() : close])
        if not type_params:
            continue
        nxt = next(_functions(text[close + 1 :]), None)
        if nxt is None:
            continue
        name, params, body, _, _ = nxt
        for tp in type_params:
            for pm in re.finditer(r"(?:const\s+)?\b" + tp + r"\b\s*&{0,2}\s*(\w+)\s*(?:,|$)", params):
                if re.search(r"(?<![\w.>])" + pm.group(1) + r"\s*\(", body):
                    found.append(
                        Finding(
                            path,
                            _line_of(text, t.start()),
                            "function-pointer",
                            f"template parameter {tp} of {name}() is called as a function "
                            f"(`{pm.group(1)}(...)`): call the function directly",
                        )
                    )
    return found


def _split_args(text: str) -> list[str]:
    """Top-level comma-separated pieces of an argument or parameter list."""
    out, depth, cur = [], 0, []
    for ch in text:
        if ch in "([{<":
            depth += 1
        elif ch in ")]}>":
            depth -= 1
        if ch == "," and depth == 0:
            out.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    if "".join(cur).strip():
        out.append("".join(cur))
    return out


def _param_name(param: str) -> str:
    names = re.findall(r"[A-Za-z_]\w*", param.split("=")[0].split("[")[0])
    return names[-1] if names else ""


def _pointer_params(params: str) -> list[str]:
    return re.findall(r"\*\s*(?:const\s+)?(\w+)\s*(?:,|$)", params)


def ddr_pointers(texts: dict[Path, str]) -> dict[tuple[Path, int], set[str]]:
    """(file, function start) -> names of its parameters that hold DDR addresses: the m_axi ports of
    the top function(s), then every parameter an argument naming a DDR pointer reaches (fixpoint)."""
    funcs = []  # (key, name, parameter names, body)
    for path, text in texts.items():
        for name, params, body, _start, at in _functions(text):
            funcs.append(((path, at), name, [_param_name(p) for p in _split_args(params)], params, body))
    by_name: dict[str, list] = {}
    for f in funcs:
        by_name.setdefault(f[1], []).append(f)
    ddr: dict[tuple[Path, int], set[str]] = {f[0]: set() for f in funcs}
    tops = False
    for key, _name, _pnames, _params, body in funcs:
        ports = set(re.findall(r"#pragma\s+HLS\s+INTERFACE\s+m_axi\s+port\s*=\s*(\w+)", body))
        if ports:
            tops = True
            ddr[key] |= ports
    if not tops:  # a lone file (rule tests, a new header): every pointer parameter may be a port
        for key, _name, _pnames, params, _body in funcs:
            ddr[key] |= set(_pointer_params(params))
        return ddr
    changed = True
    while changed:
        changed = False
        for key, _name, _pnames, _params, body in funcs:
            names = ddr[key]
            if not names:
                continue
            for m in re.finditer(r"\b([A-Za-z_]\w*)\s*(?:<[^<>;()]*>)?\s*\(", body):
                callees = by_name.get(m.group(1))
                if not callees:
                    continue
                close = _match_paren(body, body.index("(", m.start()), "(", ")")
                args = _split_args(body[body.index("(", m.start()) + 1 : close])
                for i, arg in enumerate(args):
                    if not set(re.findall(r"(?<![.>\w])([A-Za-z_]\w*)", arg)) & names:
                        continue
                    for ckey, _cn, cparams, _cp, _cb in callees:
                        if i < len(cparams) and cparams[i] and cparams[i] not in ddr[ckey]:
                            ddr[ckey].add(cparams[i])
                            changed = True
    return ddr


def check_maxi_elementwise(path: Path, text: str, ddr: dict[tuple[Path, int], set[str]] | None = None) -> list[Finding]:
    found = []
    for name, params, body, start, at in _functions(text):
        if BURST_HELPER.match(name):
            continue
        ptrs = [p for p in _pointer_params(params) if ddr is None or p in ddr.get((path, at), set())]
        if not ptrs:
            continue
        for loop in re.finditer(r"\bfor\s*\(", body):
            close = _match_paren(body, loop.end() - 1, "(", ")")
            rest = body[close + 1 :].lstrip()
            if rest.startswith("{"):
                end = _match_paren(body, close + 1 + (len(body[close + 1 :]) - len(rest)), "{", "}")
                loop_body = body[close + 1 : end]
            else:
                loop_body = rest[: rest.find(";") + 1]
            for p in ptrs:
                hit = re.search(
                    r"(?<![\w.>])" + p + r"\s*\[|\*\s*\(\s*" + p + r"\b|(?<![\w)\]])\*\s*" + p + r"\b", loop_body
                )
                if hit:
                    found.append(
                        Finding(
                            path,
                            _line_of(text, start + loop.start()),
                            "maxi-elementwise",
                            f"{name}(): DDR pointer `{p}` accessed element-wise in a loop; move DDR "
                            "traffic into a burst_* helper and work on on-chip buffers",
                        )
                    )
                    break
            else:
                continue
            break
    return found


def function_bodies(text: str) -> dict[str, list[str]]:
    """name -> bodies of function definitions (simple brace matching)."""
    funcs: dict[str, list[str]] = {}
    for name, _params, body, _start, _at in _functions(text):
        funcs.setdefault(name, []).append(body)
    return funcs


def check_recursion(files: dict[Path, str]) -> list[Finding]:
    bodies: dict[str, list[str]] = {}
    where: dict[str, Path] = {}
    for path, text in files.items():
        for name, bs in function_bodies(text).items():
            bodies.setdefault(name, []).extend(bs)
            where.setdefault(name, path)
    graph = {
        name: {c for b in bs for c in re.findall(r"\b([A-Za-z_]\w*)\s*\(", b) if c in bodies}
        for name, bs in bodies.items()
    }
    found, state = [], {}

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycle = stack[stack.index(nxt) :] + [nxt] if nxt in stack else [node, nxt]
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
        nxt = text[m.end() : m.end() + 2].lstrip()
        if m.group(1) in ("new", "delete") or nxt.startswith("("):
            found.append(Finding(path, _line_of(text, m.start()), "dynamic-memory", f"`{m.group(1)}`"))
    for m in re.finditer(r"\bstd\s*::\s*(\w+)", text):
        if m.group(1) in CONTAINERS:
            found.append(Finding(path, _line_of(text, m.start()), "stl-container", f"std::{m.group(1)}"))
    for m in re.finditer(r"#\s*include\s*<(\w+)>", text):
        if m.group(1) in CONTAINERS or m.group(1) in ("unordered_map", "memory", "functional"):
            found.append(Finding(path, _line_of(text, m.start()), "stl-container", f"#include <{m.group(1)}>"))
    found += check_loops(path, text)
    found += check_tripcount_literals(path, text)
    found += check_function_pointers(path, text)
    return found, text


def engine_files() -> list[Path]:
    """The synthesised sources: hw/include/**/*.h and hw/src/**/*.cpp, all of them."""
    files = []
    for d in DEFAULT_DIRS:
        files += sorted(d.rglob("*.h")) + sorted(d.rglob("*.cpp"))
    return files


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
    ddr = ddr_pointers(texts)
    for f, text in texts.items():
        found += check_maxi_elementwise(f, text, ddr)
    return found + check_recursion(texts) + check_tripcount_parameters(texts)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    found = lint([Path(a) for a in argv] or None)
    for f in found:
        print(f)
    counts = {r: sum(f.rule == r for f in found) for r in RULES}
    print(
        f"hls_lint: {len(found)} finding(s)"
        + (" (" + ", ".join(f"{r} {n}" for r, n in counts.items() if n) + ")" if found else "")
    )
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
