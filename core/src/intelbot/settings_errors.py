"""Messages for settings a model refused, in the words an operator reads: "must be a positive integer".

pydantic reports what failed; this module says what the key must be, from the field's
type and constraints, so every table (kernel, providers, Discord, plugins) explains a bad
value the same way. A value under a secret-looking key is never repeated.
"""

from __future__ import annotations

import enum
import types
import typing
from collections.abc import Mapping, Sequence
from typing import Any

import annotated_types
from pydantic import BaseModel, SecretStr
from pydantic.fields import FieldInfo

from intelbot.redaction import is_secret_key


def _unwrap(annotation: Any) -> tuple[Any, list[Any]]:
    """The annotation without ``Annotated``/``Optional``, and the constraint metadata found on the way."""
    metadata: list[Any] = []
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation, *extra = typing.get_args(annotation)
            for item in extra:
                metadata.extend(item.metadata if isinstance(item, FieldInfo) else [item])
            continue
        if origin in (typing.Union, types.UnionType):
            options = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
            if len(options) == 1:
                annotation = options[0]
                continue
        return annotation, metadata


def _bounds(metadata: Sequence[Any]) -> list[str]:
    words = []
    for item in metadata:
        if isinstance(item, annotated_types.Gt):
            words.append("positive" if item.gt == 0 else f"> {item.gt}")
        elif isinstance(item, annotated_types.Ge):
            words.append(f">= {item.ge}")
        elif isinstance(item, annotated_types.Lt):
            words.append(f"< {item.lt}")
        elif isinstance(item, annotated_types.Le):
            words.append(f"<= {item.le}")
        elif isinstance(item, annotated_types.MinLen) and item.min_length == 1:
            words.append("non-empty")
    return words


def expected(annotation: Any, metadata: Sequence[Any] = ()) -> str:
    """What a value of ``annotation`` (with constraint ``metadata``) must be, as a phrase."""
    annotation, more = _unwrap(annotation)
    bounds = _bounds([*metadata, *more])
    prefix = [word for word in bounds if word in ("positive", "non-empty")]
    suffix = [word for word in bounds if word not in ("positive", "non-empty")]
    origin = typing.get_origin(annotation)
    if origin is typing.Literal:
        return "one of " + ", ".join(str(choice) for choice in typing.get_args(annotation))
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return "one of " + ", ".join(str(member.value) for member in annotation)
    if origin in (list, tuple, set, frozenset):
        items = [arg for arg in typing.get_args(annotation) if arg is not Ellipsis]
        return f"a list of {expected(items[0])}" if items else "a list"
    if origin is dict or (isinstance(annotation, type) and issubclass(annotation, BaseModel | Mapping)):
        return "a table"
    names = {bool: "true or false", int: "integer", float: "number", str: "string", SecretStr: "string"}
    noun = names.get(annotation, getattr(annotation, "__name__", "value"))
    if annotation is bool:
        return noun
    phrase = " ".join([*prefix, noun])
    article = "an" if phrase[0] in "aeiou" else "a"
    return f"{article} {phrase}" + (f" {' and '.join(suffix)}" if suffix else "")


def field_at(model: type[BaseModel], path: Sequence[str]) -> tuple[Any, list[Any]] | None:
    """The annotation and metadata of the field at ``path`` in ``model`` (through nested models and tables)."""
    annotation: Any = model
    metadata: list[Any] = []
    for part in path:
        annotation, _ = _unwrap(annotation)
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            info = annotation.model_fields.get(part)
            if info is None:
                return None
            annotation, metadata = info.annotation, list(info.metadata)
        elif typing.get_origin(annotation) is dict:
            annotation, metadata = typing.get_args(annotation)[1], []
        else:
            return None
    return annotation, metadata


def describe(model: type[BaseModel], error: Mapping[str, Any]) -> str:
    """The message for one pydantic error of ``model``: what the key must be, and (unless secret) what it was."""
    path = [str(part) for part in error.get("loc", ()) if not isinstance(part, int)]
    kind = str(error.get("type", ""))
    if kind == "extra_forbidden":
        return f"unknown setting {path[-1]!r}" if path else "unknown setting"
    if kind == "value_error":
        reason = str(error.get("ctx", {}).get("error", error.get("msg", "invalid value")))
        message = reason
    else:
        found = field_at(model, path)
        message = f"must be {expected(*found)}" if found is not None else str(error.get("msg", "invalid value"))
    given = error.get("input")
    secret = any(is_secret_key(part) for part in path)
    if not secret and (isinstance(given, str | int | float | bool) or given is None) and "input" in error:
        message = f"{message}, got {given!r}"
    return message
