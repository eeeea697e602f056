"""Prints fields of the engine contract for the Makefile: spec_field.py SPEC KEY[.KEY...] ...

One value per line, in the order asked (make reads them with $(word n,...)), so values must not
contain white space. Plain python3 with no project imports: the Xilinx flow needs only the tools.
"""

import json
import sys


def field(spec: dict, dotted: str, path: str) -> str:
    value = spec
    for key in dotted.split("."):
        if not isinstance(value, dict) or key not in value:
            raise ValueError(f"field '{dotted}' missing from {path}")
        value = value[key]
    text = str(value)
    if not text or any(c.isspace() for c in text):
        raise ValueError(f"field '{dotted}' in {path} must be a non-empty word, got {text!r}")
    return text


def main(argv: list[str]) -> int:
    if len(argv) < 3:
        print("usage: spec_field.py SPEC_JSON DOTTED.KEY [DOTTED.KEY ...]", file=sys.stderr)
        return 2
    path = argv[1]
    try:
        with open(path) as f:
            spec = json.load(f)
        print("\n".join(field(spec, dotted, path) for dotted in argv[2:]))
    except (OSError, ValueError) as err:
        print(f"onion: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
