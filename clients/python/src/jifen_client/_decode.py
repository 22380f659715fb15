"""JSON answers into the client's frozen dataclasses, by their annotations.

Forward compatible: members a newer server adds are ignored, and a field the server
leaves out takes the dataclass's default when it has one. Values are converted as the
field's type says: UUID, datetime, date and Decimal from their JSON strings; `X | None`
accepts null; `list[X]` and `dict[str, X]` convert each item; a generic dataclass
(`Page[MemberRead]`) substitutes its type arguments.
"""

from __future__ import annotations

import dataclasses
import types
import typing
import uuid
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar

T = TypeVar("T")

_Env = dict[Any, Any]


class DecodeError(ValueError):
    """An answer did not have the shape the client expects (`path` says where)."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path or '<answer>'}: {message}")
        self.path = path


def decode(kind: type[T], data: object) -> T:
    """`data` (parsed JSON) as an instance of `kind`."""
    return typing.cast(T, _decode(kind, data, {}, ""))


_HINTS: dict[type, dict[str, Any]] = {}


def _hints(cls: type) -> dict[str, Any]:
    hints = _HINTS.get(cls)
    if hints is None:
        hints = typing.get_type_hints(cls)
        _HINTS[cls] = hints
    return hints


def _decode(kind: Any, data: object, env: _Env, path: str) -> Any:
    if isinstance(kind, TypeVar):
        kind = env.get(kind, Any)
    if kind is Any or kind is object:
        return data
    origin = typing.get_origin(kind)
    if origin is typing.Union or origin is types.UnionType:
        options = typing.get_args(kind)
        if data is None:
            if type(None) in options:
                return None
            raise DecodeError(path, "null where a value is needed")
        errors: list[DecodeError] = []
        for option in options:
            if option is type(None):
                continue
            try:
                return _decode(option, data, env, path)
            except DecodeError as exc:
                errors.append(exc)
        raise errors[0]
    if origin is typing.Literal:
        return data  # a newer server may answer a value this client does not know yet
    if origin is list:
        if not isinstance(data, list):
            raise DecodeError(path, f"expected an array, got {type(data).__name__}")
        (item,) = typing.get_args(kind) or (Any,)
        return [_decode(item, value, env, f"{path}[{i}]") for i, value in enumerate(data)]
    if origin is dict:
        if not isinstance(data, dict):
            raise DecodeError(path, f"expected an object, got {type(data).__name__}")
        _, value_kind = typing.get_args(kind) or (str, Any)
        return {str(k): _decode(value_kind, v, env, f"{path}.{k}") for k, v in data.items()}
    if isinstance(origin, type) and dataclasses.is_dataclass(origin):
        parameters = getattr(origin, "__parameters__", ())
        arguments = [env.get(a, a) if isinstance(a, TypeVar) else a for a in typing.get_args(kind)]
        return _dataclass(origin, data, dict(zip(parameters, arguments, strict=False)), path)
    if isinstance(kind, type) and dataclasses.is_dataclass(kind):
        return _dataclass(kind, data, {}, path)
    return _scalar(kind, data, path)


def _dataclass(cls: type, data: object, env: _Env, path: str) -> Any:
    if not isinstance(data, dict):
        raise DecodeError(path, f"expected an object for {cls.__name__}, got {type(data).__name__}")
    hints = _hints(cls)
    values: dict[str, Any] = {}
    for field in dataclasses.fields(cls):
        if not field.init:
            continue
        where = f"{path}.{field.name}" if path else field.name
        if field.name in data:
            values[field.name] = _decode(hints[field.name], data[field.name], env, where)
        elif field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
            raise DecodeError(where, "missing")
    return cls(**values)


def _scalar(kind: Any, data: object, path: str) -> Any:
    if kind is bool:
        if isinstance(data, bool):
            return data
    elif kind is int:
        if isinstance(data, int) and not isinstance(data, bool):
            return data
    elif kind is float:
        if isinstance(data, int | float) and not isinstance(data, bool):
            return float(data)
    elif kind is str:
        if isinstance(data, str):
            return data
    elif kind is uuid.UUID:
        if isinstance(data, str):
            try:
                return uuid.UUID(data)
            except ValueError:
                raise DecodeError(path, f"not a UUID: {data!r}") from None
    elif kind is datetime:
        if isinstance(data, str):
            try:
                return datetime.fromisoformat(data)
            except ValueError:
                raise DecodeError(path, f"not a date-time: {data!r}") from None
    elif kind is date:
        if isinstance(data, str):
            try:
                return date.fromisoformat(data)
            except ValueError:
                raise DecodeError(path, f"not a date: {data!r}") from None
    elif kind is Decimal:
        if isinstance(data, str | int) and not isinstance(data, bool):
            try:
                return Decimal(data)
            except InvalidOperation:
                raise DecodeError(path, f"not a decimal: {data!r}") from None
    else:
        raise TypeError(f"the client cannot decode {kind!r}")
    raise DecodeError(path, f"expected {kind.__name__}, got {type(data).__name__}")
