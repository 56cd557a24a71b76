"""Pydantic validation errors turned into problems at the key path a person wrote."""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Iterator, Mapping
from typing import Annotated, Any

from pydantic import BaseModel, ValidationError

from syncd.config.problems import RawPath
from syncd.config.schema.models import Config


def _translate(error: ValidationError, data: Any) -> Iterator[tuple[RawPath, str]]:
    merged: dict[RawPath, list[str]] = {}
    for item in error.errors(include_url=False):
        raw_path, message = _describe(item, data)
        messages = merged.setdefault(raw_path, [])
        if message not in messages:
            messages.append(message)
    for raw_path, messages in merged.items():
        yield raw_path, "; ".join(messages)


def _describe(item: Mapping[str, Any], data: Any) -> tuple[RawPath, str]:
    loc = tuple(item["loc"])
    raw_path = _raw_path(data, loc)
    kind = item["type"]
    ctx = item.get("ctx") or {}
    if kind == "extra_forbidden":
        key = str(loc[-1])
        allowed = _allowed_keys(loc[:-1])
        close = difflib.get_close_matches(key, allowed, n=1)
        if close:
            return raw_path, f"unknown key {key!r} (did you mean {close[0]!r}?)"
        if allowed:
            return raw_path, f"unknown key {key!r} (allowed here: {', '.join(allowed)})"
        return raw_path, f"unknown key {key!r}"
    if kind == "missing":
        return raw_path, "required key is missing"
    if kind == "union_tag_invalid":
        return (*raw_path, "type"), (
            f"unknown type {ctx.get('tag')!r}; expected one of {ctx.get('expected_tags')}"
        )
    if kind == "union_tag_not_found":
        return (*raw_path, "type"), "required key is missing (it selects the kind of entry)"
    if kind in ("value_error", "assertion_error"):
        cause = ctx.get("error")
        return raw_path, str(cause) if cause is not None else item["msg"]
    if kind == "literal_error":
        return raw_path, f"{item['msg']} (got {_short(item.get('input'))})"
    return raw_path, item["msg"]


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _raw_path(data: Any, loc: tuple[Any, ...]) -> RawPath:
    """The key path in the YAML document for a pydantic location (without union tags)."""
    path: list[str | int] = []
    current = data
    for part in loc:
        if isinstance(current, dict):
            if part in current:
                path.append(part)
                current = current[part]
            elif current.get("type") == part:
                continue  # the discriminator's tag, not a key
            else:
                path.append(part)
                current = None
        elif isinstance(current, list) and isinstance(part, int) and 0 <= part < len(current):
            path.append(part)
            current = current[part]
        else:
            break  # a scalar: what follows are type tags such as 'int' or 'str'
    return tuple(path)


def _allowed_keys(loc: tuple[Any, ...]) -> list[str]:
    """The keys the model at ``loc`` accepts, for 'did you mean' hints."""
    model = _model_at(Config, loc)
    if model is None:
        return []
    return sorted(f.alias or name for name, f in model.model_fields.items())


def _model_at(annotation: Any, loc: tuple[Any, ...]) -> type[BaseModel] | None:
    annotation = _unwrap(annotation)
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        members = [m for m in typing.get_args(annotation) if m is not type(None)]
        models = [_unwrap(m) for m in members if _is_model(_unwrap(m))]
        if loc:
            for model in models:
                type_field = model.model_fields.get("type")
                if type_field is not None and loc[0] in typing.get_args(type_field.annotation):
                    return _model_at(model, loc[1:])
        if len(models) == 1:
            return _model_at(models[0], loc)
        return None
    if not loc:
        return annotation if _is_model(annotation) else None
    if _is_model(annotation):
        for name, field in annotation.model_fields.items():
            if loc[0] in (name, field.alias):
                return _model_at(field.annotation, loc[1:])
        return None
    if origin in (list, tuple):
        return _model_at(typing.get_args(annotation)[0], loc[1:])
    if origin is dict:
        return _model_at(typing.get_args(annotation)[1], loc[1:])
    return None


def _unwrap(annotation: Any) -> Any:
    while typing.get_origin(annotation) is Annotated:
        annotation = typing.get_args(annotation)[0]
    return annotation


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)
