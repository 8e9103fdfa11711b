"""MkDocs hook: the options page, generated from the typed config dataclasses.

A page line ``<!-- options SECTION module.Class -->`` becomes one entry per field of that dataclass: its
name (``SECTION.name``), its type and default read from the dataclass, and its text read from the
class docstring's ``Attributes:`` section (one entry per field, Google style). A field without an entry,
or an entry without a field, stops the build, so the page cannot miss an option or keep a stale one.
``documented_fields`` is also what ``tests/test_docs.py`` checks.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import re
import types
import typing

MARKER = re.compile(r"^<!-- options (\S+) (\S+) -->$", re.M)
ENTRY = re.compile(r"^(\w+(?:, \w+)*): ?(.*)$")  # ``name: text``, or ``a, b: text`` shared by several fields


def attributes(cls) -> dict[str, str]:
    """Each entry of the ``Attributes:`` section of ``cls``'s docstring, its lines joined, keyed by its
    names as written (``"a, b"`` for an entry shared by fields ``a`` and ``b``)."""
    doc = inspect.cleandoc(cls.__doc__ or "")
    lines = doc.splitlines()
    if "Attributes:" not in lines:
        return {}
    entries: dict[str, list[str]] = {}
    current = None
    for line in lines[lines.index("Attributes:") + 1 :]:
        if line and not line.startswith(" "):  # the section ends at the next unindented line
            break
        text = line.strip()
        match = ENTRY.match(text) if line.startswith("    ") and not line.startswith("     ") else None
        if match:
            current = match.group(1)
            entries[current] = [match.group(2)]
        elif text and current:
            entries[current].append(text)
    return {name: " ".join(words).strip() for name, words in entries.items()}


def documented_fields(cls) -> tuple[dict[str, str], list[str], list[str]]:
    """(entry's names per field, fields without an entry, names of entries without a field) of dataclass
    ``cls``."""
    entries = {name: key for key in attributes(cls) for name in key.split(", ")}
    names = [f.name for f in dataclasses.fields(cls)]
    return entries, [n for n in names if n not in entries], [n for n in entries if n not in names]


def type_words(hint) -> str:
    """A declared type in words: ``Literal`` values as ``'a' | 'b'``, unions with ``|``."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is typing.Literal:
        return " | ".join(repr(a) for a in args)
    if origin in (typing.Union, types.UnionType):
        return " | ".join("None" if a is type(None) else type_words(a) for a in args)
    if origin is not None:
        return repr(hint).replace("typing.", "")
    return getattr(hint, "__name__", repr(hint))


def default_words(field: dataclasses.Field) -> str:
    """The field's default as it would be written in Python."""
    if field.default is not dataclasses.MISSING:
        return repr(field.default)
    if field.default_factory is not dataclasses.MISSING:
        value = field.default_factory()
        return f"{type(value).__name__}()" if dataclasses.is_dataclass(value) else repr(value)
    return "(required)"


def markdown(text: str) -> str:
    """reStructuredText's double backticks as Markdown code."""
    return re.sub(r"``(.+?)``", r"`\1`", text)


def options(section: str, path: str) -> str:
    """The Markdown of every option of dataclass ``path`` (``module.Class``) under ``section``."""
    module, _, name = path.rpartition(".")
    cls = getattr(importlib.import_module(module), name)
    entries, missing, stale = documented_fields(cls)
    texts = attributes(cls)
    if missing or stale:
        from mkdocs.exceptions import PluginError

        raise PluginError(
            f"{path}: fields without an entry in its docstring's Attributes: {missing}; entries without a field: {stale}"
        )
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    out = []
    for entry in dict.fromkeys(entries[f] for f in fields):  # the fields' order, each entry once
        names = entry.split(", ")
        keys = ", ".join(f"`{section}.{n}`" if section != "-" else f"`{n}`" for n in names)
        kinds = {(type_words(hints[n]), default_words(fields[n])) for n in names}
        if len(kinds) == 1:
            (words, default), *_ = kinds
            kind = f"*{words}*, default `{default}`" + (" each" if len(names) > 1 else "")
        else:
            kind = "; ".join(f"`{n}`: *{type_words(hints[n])}*, default `{default_words(fields[n])}`" for n in names)
        out.append(f"{keys}\n:   {kind}.\n\n    {markdown(texts[entry])}\n")
    return "\n".join(out)


def on_page_markdown(markdown_text: str, page, config, files) -> str:
    """Replaces each options marker of a page by the options it names."""
    return MARKER.sub(lambda m: options(m.group(1), m.group(2)), markdown_text)
