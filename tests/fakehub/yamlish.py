"""Just enough YAML for dataset-card front matter (PyYAML is not a dependency of the project).

`load()` reads the block-style YAML that cards use (mappings, sequences, plain/quoted scalars,
`|`/`>` block scalars, flow `[...]`/`{...}`, comments) with YAML 1.2 core scalar resolution, so
`no` stays the string "no" (Norwegian), as on the Hub. It raises `YamlError` on anything it
does not understand; callers fall back to other metadata. `dump()` writes the Hub's own style
(sequences not indented under their key), and `load(dump(x)) == x`.
"""

from __future__ import annotations

import json
import re
from typing import Any


class YamlError(ValueError):
    """Front matter this reader cannot parse."""


def split_front_matter(text: str) -> tuple[str | None, str]:
    """(YAML between the leading `---` lines or None, the markdown body)."""
    text = text.lstrip("\ufeff")
    lines = text.split("\n")
    if not lines or lines[0].strip() != "---":
        return None, text
    for index in range(1, len(lines)):
        if lines[index].rstrip() in ("---", "..."):
            return "\n".join(lines[1:index]), "\n".join(lines[index + 1 :])
    return None, text


_INT_RE = re.compile(r"[-+]?[0-9]+")
_FLOAT_RE = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?")


_OCT_RE = re.compile(r"0o[0-7]+")
_HEX_RE = re.compile(r"0x[0-9a-fA-F]+")
_SPECIAL = {
    "": None,
    "~": None,
    "null": None,
    "Null": None,
    "NULL": None,
    "true": True,
    "True": True,
    "TRUE": True,
    "false": False,
    "False": False,
    "FALSE": False,
    ".inf": float("inf"),
    ".Inf": float("inf"),
    ".INF": float("inf"),
    "+.inf": float("inf"),
    "+.Inf": float("inf"),
    "+.INF": float("inf"),
    "-.inf": float("-inf"),
    "-.Inf": float("-inf"),
    "-.INF": float("-inf"),
}


def resolve(text: str) -> Any:
    """A plain scalar as YAML 1.2 core schema reads it."""
    if text and text[0].isalpha() and text[0] not in "tTfFnN":
        return text
    if text in _SPECIAL:
        return _SPECIAL[text]
    if text in (".nan", ".NaN", ".NAN"):
        return float("nan")
    if _INT_RE.fullmatch(text):
        return int(text)
    if _OCT_RE.fullmatch(text):
        return int(text[2:], 8)
    if _HEX_RE.fullmatch(text):
        return int(text[2:], 16)
    if _FLOAT_RE.fullmatch(text):
        return float(text)
    return text


_ESCAPES = {
    "0": "\0",
    "a": "\a",
    "b": "\b",
    "t": "\t",
    "\t": "\t",
    "n": "\n",
    "v": "\v",
    "f": "\f",
    "r": "\r",
    "e": "\x1b",
    " ": " ",
    '"': '"',
    "/": "/",
    "\\": "\\",
    "N": "\x85",
    "_": "\xa0",
    "L": "\u2028",
    "P": "\u2029",
}


def _unescape_double(raw: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(raw):
        char = raw[i]
        if char != "\\":
            out.append(char)
            i += 1
            continue
        if i + 1 >= len(raw):
            raise YamlError("dangling backslash")
        code = raw[i + 1]
        if code in _ESCAPES:
            out.append(_ESCAPES[code])
            i += 2
        elif code in "xuU":
            width = {"x": 2, "u": 4, "U": 8}[code]
            digits = raw[i + 2 : i + 2 + width]
            if len(digits) != width or not re.fullmatch(r"[0-9a-fA-F]+", digits):
                raise YamlError("bad escape")
            out.append(chr(int(digits, 16)))
            i += 2 + width
        elif code == "\n":  # escaped line break: join without a space
            i += 2
            while i < len(raw) and raw[i] in " \t":
                i += 1
        else:
            raise YamlError(f"unknown escape \\{code}")
    return "".join(out)


def _fold(raw: str, keep_escaped_breaks: bool) -> str:
    """Line folding inside a multi-line quoted scalar."""
    if "\n" not in raw:
        return raw
    pieces = raw.split("\n")
    out = (
        pieces[0].rstrip(" \t")
        if not (keep_escaped_breaks and pieces[0].endswith("\\"))
        else pieces[0]
    )
    blank_run = 0
    for piece in pieces[1:]:
        stripped = piece.strip(" \t")
        if not stripped:
            blank_run += 1
            continue
        if keep_escaped_breaks and out.endswith("\\") and not out.endswith("\\\\"):
            out = out + "\n" + stripped  # the escape handler joins these
        elif blank_run:
            out += "\n" * blank_run + stripped
        else:
            out += " " + stripped
        blank_run = 0
    return out + "\n" * blank_run


def _scan_quoted(text: str, start: int) -> tuple[str, int] | None:
    """Decode the quoted scalar at text[start]; None when it does not close in `text`."""
    quote = text[start]
    i = start + 1
    if quote == "'":
        chunks: list[str] = []
        while i < len(text):
            if text[i] == "'":
                if i + 1 < len(text) and text[i + 1] == "'":
                    chunks.append("'")
                    i += 2
                    continue
                return _fold("".join(chunks), False), i + 1
            chunks.append(text[i])
            i += 1
        return None
    while i < len(text):
        if text[i] == "\\":
            i += 2
            continue
        if text[i] == '"':
            return _unescape_double(_fold(text[start + 1 : i], True)), i + 1
        i += 1
    return None


_KEY_END_RE = re.compile(r":(?:[ \t]|$)")
_COMMENT_RE = re.compile(r"(^|[ \t])#")


def _strip_comment(text: str) -> str:
    """A plain scalar's text without a trailing ` # comment`."""
    if "#" not in text:
        return text.rstrip(" \t")
    match = _COMMENT_RE.search(text)
    return (text[: match.start()] if match else text).rstrip(" \t")


class _FlowParser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.i = 0

    def ws(self) -> None:
        while self.i < len(self.text) and self.text[self.i] in " \t\n\r":
            self.i += 1

    def value(self, stops: str) -> Any:
        self.ws()
        if self.i >= len(self.text):
            raise YamlError("unterminated flow collection")
        char = self.text[self.i]
        if char == "[":
            self.i += 1
            items = []
            while True:
                self.ws()
                if self.i < len(self.text) and self.text[self.i] == "]":
                    self.i += 1
                    return items
                items.append(self.value(",]"))
                self.ws()
                if self.i < len(self.text) and self.text[self.i] == ",":
                    self.i += 1
                elif self.i < len(self.text) and self.text[self.i] == "]":
                    continue
                else:
                    raise YamlError("bad flow sequence")
        if char == "{":
            self.i += 1
            mapping: dict[Any, Any] = {}
            while True:
                self.ws()
                if self.i < len(self.text) and self.text[self.i] == "}":
                    self.i += 1
                    return mapping
                key = self.value(":,}")
                self.ws()
                value = None
                if self.i < len(self.text) and self.text[self.i] == ":":
                    self.i += 1
                    value = self.value(",}")
                mapping[_hashable(key)] = value
                self.ws()
                if self.i < len(self.text) and self.text[self.i] == ",":
                    self.i += 1
                elif self.i < len(self.text) and self.text[self.i] == "}":
                    continue
                else:
                    raise YamlError("bad flow mapping")
        if char in "'\"":
            scanned = _scan_quoted(self.text, self.i)
            if scanned is None:
                raise YamlError("unterminated quoted scalar")
            value, self.i = scanned
            return value
        start = self.i
        while self.i < len(self.text):
            char = self.text[self.i]
            if char in stops and char != ":":
                break
            if (
                char == ":"
                and ":" in stops
                and (self.i + 1 >= len(self.text) or self.text[self.i + 1] in " ,}]\n")
            ):
                break
            self.i += 1
        return resolve(" ".join(self.text[start : self.i].split()))


def _hashable(key: Any) -> Any:
    if isinstance(key, list | dict):
        raise YamlError("complex mapping keys are not supported")
    return key


def _flow_balanced(text: str) -> bool:
    depth = 0
    i = 0
    while i < len(text):
        char = text[i]
        if char in "'\"":
            scanned = _scan_quoted(text, i)
            if scanned is None:
                return False
            i = scanned[1]
            continue
        if char in "[{":
            depth += 1
        elif char in "]}":
            depth -= 1
        elif char == "#" and (i == 0 or text[i - 1] in " \t\n") and depth > 0:
            end = text.find("\n", i)
            text = text[:i] + (text[end:] if end >= 0 else "")
            continue
        i += 1
    return depth <= 0


class _BlockParser:
    def __init__(self, text: str) -> None:
        if "\t" in "".join(line[: len(line) - len(line.lstrip())] for line in text.split("\n")):
            raise YamlError("tab indentation")
        self.lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
        self.i = 0

    def skip(self) -> bool:
        """Move to the next meaningful line; False at the end."""
        while self.i < len(self.lines):
            stripped = self.lines[self.i].strip()
            if stripped and not stripped.startswith("#"):
                if stripped in ("---", "..."):
                    raise YamlError("several documents")
                return True
            self.i += 1
        return False

    def peek(self) -> tuple[int, str]:
        line = self.lines[self.i]
        content = line.lstrip(" ")
        return len(line) - len(content), content.rstrip()

    @staticmethod
    def is_item(content: str) -> bool:
        return content == "-" or content.startswith("- ") or content.startswith("-\t")

    @staticmethod
    def split_key(content: str) -> tuple[Any, str] | None:
        """(key, rest after the colon) when the line is a mapping entry."""
        if content[0] in "'\"":
            scanned = _scan_quoted(content, 0)
            if scanned is None:
                return None
            key, end = scanned
            rest = content[end:].lstrip(" ")
            if rest == ":" or rest.startswith(": ") or rest.startswith(":\t"):
                return key, rest[1:]
            return None
        if content[0] in "[{&*!|>%@`" or ":" not in content:
            return None
        match = _KEY_END_RE.search(content)
        if not match:
            return None
        key_text = content[: match.start()].rstrip()
        if "#" in key_text and _COMMENT_RE.search(key_text):
            return None
        return resolve(key_text) if key_text else None, content[match.end() :]

    def node(self, parent: int) -> Any:
        """The node starting on the current line, which is indented more than `parent`."""
        indent, content = self.peek()
        if self.is_item(content):
            return self.sequence(indent)
        if self.split_key(content) is not None:
            return self.mapping(indent)
        self.i += 1
        if content[0] in "|>":
            return self.block_scalar(content, parent)
        return self.inline(content, parent)

    def sequence(self, indent: int) -> list[Any]:
        items: list[Any] = []
        while self.skip():
            line_indent, content = self.peek()
            if line_indent != indent or not self.is_item(content):
                if line_indent > indent:
                    raise YamlError(f"bad indentation on line {self.i + 1}")
                break
            rest = content[1:]
            stripped = rest.lstrip(" \t")
            if not stripped or stripped.startswith("#"):
                self.i += 1
                items.append(self.child(indent, allow_same_indent_sequence=False))
                continue
            inner = indent + 1 + len(rest) - len(stripped)
            self.lines[self.i] = " " * inner + stripped
            items.append(self.node(indent))
        return items

    def mapping(self, indent: int) -> dict[Any, Any]:
        result: dict[Any, Any] = {}
        while self.skip():
            line_indent, content = self.peek()
            if line_indent < indent:
                break
            if line_indent > indent:
                raise YamlError(f"bad indentation on line {self.i + 1}")
            if self.is_item(content):
                break
            split = self.split_key(content)
            if split is None:
                raise YamlError(f"expected a key on line {self.i + 1}")
            key, rest = split
            key = _hashable(key)
            self.i += 1
            rest = rest.strip(" \t")
            if not rest or rest.startswith("#"):
                result[key] = self.child(indent, allow_same_indent_sequence=True)
            elif rest[0] in "|>":
                result[key] = self.block_scalar(rest, indent)
            else:
                result[key] = self.inline(rest, indent)
        return result

    def child(self, indent: int, allow_same_indent_sequence: bool) -> Any:
        if not self.skip():
            return None
        line_indent, content = self.peek()
        if line_indent > indent:
            return self.node(indent)
        if allow_same_indent_sequence and line_indent == indent and self.is_item(content):
            return self.sequence(indent)
        return None

    def continuation(self, parent: int) -> list[str]:
        """Following lines that belong to a multi-line scalar (indented past the parent)."""
        lines: list[str] = []
        while self.i < len(self.lines):
            line = self.lines[self.i]
            stripped = line.strip()
            if stripped and len(line) - len(line.lstrip(" ")) <= parent:
                break
            if stripped.startswith("#") and not lines:
                break
            lines.append(stripped)
            self.i += 1
        while lines and not lines[-1]:
            lines.pop()
        return lines

    def inline(self, text: str, parent: int) -> Any:
        text = text.strip(" \t")
        if text.startswith(("&", "!", "*")):
            raise YamlError("anchors, aliases and tags are not supported")
        if text[0] in "'\"":
            whole = text
            while True:
                scanned = _scan_quoted(whole, 0)
                if scanned is not None:
                    break
                if self.i >= len(self.lines):
                    raise YamlError("unterminated quoted scalar")
                whole += "\n" + self.lines[self.i]
                self.i += 1
            value, end = scanned
            tail = whole[end:].strip(" \t")
            if tail and not tail.startswith("#"):
                raise YamlError("text after a quoted scalar")
            return value
        if text[0] in "[{":
            whole = text
            while not _flow_balanced(whole):
                if self.i >= len(self.lines):
                    raise YamlError("unterminated flow collection")
                whole += "\n" + self.lines[self.i]
                self.i += 1
            whole = "\n".join(_strip_flow_comment(line) for line in whole.split("\n"))
            parser = _FlowParser(whole)
            value = parser.value("")
            parser.ws()
            if parser.i != len(parser.text):
                raise YamlError("text after a flow collection")
            return value
        first = _strip_comment(text)
        more = self.continuation(parent)
        if not more:
            return resolve(first)
        out = first
        blank_run = 0
        for line in more:
            if not line:
                blank_run += 1
                continue
            if line.startswith("#"):
                break
            line = _strip_comment(line)
            out += ("\n" * blank_run) if blank_run else " "
            out += line
            blank_run = 0
        return out

    def block_scalar(self, header: str, parent: int) -> str:
        match = re.fullmatch(r"([|>])([-+]?)([1-9]?)([-+]?)\s*(#.*)?", header)
        if not match:
            raise YamlError("bad block scalar header")
        style, chomp, explicit = match.group(1), match.group(2) or match.group(4), match.group(3)
        raw: list[str] = []
        while self.i < len(self.lines):
            line = self.lines[self.i]
            if line.strip() and len(line) - len(line.lstrip(" ")) <= parent:
                break
            raw.append(line)
            self.i += 1
        indents = [len(line) - len(line.lstrip(" ")) for line in raw if line.strip()]
        block = parent + int(explicit) if explicit else (min(indents) if indents else 0)
        body = [line[block:] if line.strip() else "" for line in raw]
        trailing = 0
        while body and not body[-1]:
            body.pop()
            trailing += 1
        if style == "|":
            text = "\n".join(body)
        else:
            text = ""
            previous = None
            for line in body:
                if not line:
                    text += "\n"
                    kind = "empty"
                elif line.startswith((" ", "\t")):
                    text += "\n" if previous in ("text", "more") else ""
                    text += line
                    kind = "more"
                else:
                    text += {"text": " ", "more": "\n"}.get(previous, "")
                    text += line
                    kind = "text"
                previous = kind
        if not body:
            return "" if chomp != "+" else "\n" * trailing
        if chomp == "-":
            return text
        if chomp == "+":
            return text + "\n" + "\n" * trailing
        return text + "\n"


def _strip_flow_comment(line: str) -> str:
    in_quote = ""
    for index, char in enumerate(line):
        if in_quote:
            if char == in_quote:
                in_quote = ""
        elif char in "'\"":
            in_quote = char
        elif char == "#" and (index == 0 or line[index - 1] in " \t"):
            return line[:index]
    return line


def load(text: str) -> Any:
    """Parse one YAML document of the subset described above."""
    parser = _BlockParser(text)
    if not parser.skip():
        return None
    value = parser.node(-1)
    if parser.skip():
        raise YamlError(f"unexpected content on line {parser.i + 1}")
    return value


_PLAIN_RE = re.compile(r"[A-Za-z0-9_./()<>+\-][A-Za-z0-9_ ./()<>+\-,=]*")


def _scalar(value: Any) -> str:
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int | float):
        return json.dumps(value)
    text = str(value)
    if _PLAIN_RE.fullmatch(text) and text == text.strip() and isinstance(resolve(text), str):
        if not text.startswith("- ") and text != "-":
            return text
    return json.dumps(text, ensure_ascii=False)


def _dump_lines(value: Any, indent: int) -> list[str]:
    pad = " " * indent
    lines: list[str] = []
    if isinstance(value, dict):
        for key, item in value.items():
            head = f"{pad}{_scalar(key)}:"
            if isinstance(item, dict) and item:
                lines.append(head)
                lines.extend(_dump_lines(item, indent + 2))
            elif isinstance(item, list) and item:
                lines.append(head)
                lines.extend(_dump_lines(item, indent))
            else:
                lines.append(f"{head} {_flow_empty(item)}")
        return lines
    if isinstance(value, list):
        for item in value:
            if isinstance(item, dict) and item:
                inner = _dump_lines(item, indent + 2)
                lines.append(f"{pad}- {inner[0][indent + 2 :]}")
                lines.extend(inner[1:])
            elif isinstance(item, list) and item:
                lines.append(f"{pad}-")
                lines.extend(_dump_lines(item, indent + 2))
            else:
                lines.append(f"{pad}- {_flow_empty(item)}")
        return lines
    return [pad + _scalar(value)]


def _flow_empty(value: Any) -> str:
    if isinstance(value, dict):
        return "{}"
    if isinstance(value, list):
        return "[]"
    return _scalar(value)


def dump(value: Any) -> str:
    """Block-style YAML for dicts, lists and scalars, ending with a newline."""
    return "\n".join(_dump_lines(value, 0)) + "\n"
