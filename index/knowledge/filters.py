"""Check metadata (``where``) and document-text (``where_document``) filters up front, and
evaluate them (for stores without a filter engine of their own: the in-memory store).

Both follow ChromaDB's filter language, so a filter that works on a Chroma collection works
here. Checking them ourselves turns a mistake into an :class:`~semcached.errors.InvalidRequestError`
whose ``field`` is the dotted path of the offending part (``where.year.$gte``), with the
operators that are allowed, instead of an error from deep inside ChromaDB after work was done.

``where`` (on an item's metadata)::

    {"lang": "en"}                                   # shorthand for {"lang": {"$eq": "en"}}
    {"year": {"$gte": 2020}}                         # $eq $ne $gt $gte $lt $lte $in $nin
    {"$and": [{"lang": "en"}, {"tag": {"$in": ["a", "b"]}}]}   # $and / $or of two or more

``where_document`` (on the text of a chunk)::

    {"$contains": "insulin"}                         # $contains $not_contains $regex $not_regex
    {"$or": [{"$contains": "insulin"}, {"$regex": "gluc(ose|agon)"}]}
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from semcached.errors import InvalidRequestError

__all__ = [
    "DOCUMENT_OPERATORS",
    "FIELD_OPERATORS",
    "LOGICAL_OPERATORS",
    "matches_document",
    "matches_where",
    "validate_where",
    "validate_where_document",
]

FIELD_OPERATORS = ("$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$in", "$nin")
LOGICAL_OPERATORS = ("$and", "$or")
DOCUMENT_OPERATORS = ("$contains", "$not_contains", "$regex", "$not_regex")
_ORDERING = ("$gt", "$gte", "$lt", "$lte")
_MAX_DEPTH = 16


def _scalar(value: Any) -> bool:
    return isinstance(value, str | int | float | bool)


def _bad(field: str, expected: str, got: Any, fix: str) -> InvalidRequestError:
    return InvalidRequestError(
        f"{field}: expected {expected}, got {got!r}. Fix: {fix}", field=field
    )


def validate_where(
    where: Any, *, field: str = "where", reserved_prefix: str | None = None
) -> dict[str, Any]:
    """Check a metadata filter and return it as a plain dict.

    ``reserved_prefix`` rejects metadata keys that belong to semcached itself.

    Example::

        validate_where({"year": {"$gte": 2020}})          # returns the filter
        validate_where({"year": {"$gtx": 2020}})    # InvalidRequestError, field where.year.$gtx
    """
    _check_where(where, field, reserved_prefix, 0)
    return dict(where)


def _check_where(where: Any, field: str, reserved: str | None, depth: int) -> None:
    if depth > _MAX_DEPTH:
        raise _bad(field, f"at most {_MAX_DEPTH} nested levels", "deeper", "flatten the filter")
    if not isinstance(where, Mapping) or len(where) != 1:
        raise _bad(
            field,
            'an object with exactly one key, a metadata field or "$and"/"$or"',
            where,
            'write {"field": value}, {"field": {"$gte": 1}} or {"$and": [..., ...]}',
        )
    ((key, value),) = where.items()
    path = f"{field}.{key}"
    if not isinstance(key, str) or not key:
        raise _bad(field, "a non-empty metadata field name", key, "name a metadata field")
    if key in LOGICAL_OPERATORS:
        if not isinstance(value, list) or len(value) < 2:
            raise _bad(
                path, "a list of at least two filters", value, f"combine two or more with {key}"
            )
        for n, sub in enumerate(value):
            _check_where(sub, f"{path}.{n}", reserved, depth + 1)
        return
    if key.startswith("$"):
        raise _bad(
            path,
            f"a metadata field name or one of {', '.join(LOGICAL_OPERATORS)}",
            key,
            f"put field operators ({', '.join(FIELD_OPERATORS)}) under a field name",
        )
    if reserved and key.startswith(reserved):
        raise _bad(path, f"a metadata field not starting with {reserved!r}", key, "rename it")
    if _scalar(value):
        return
    if not isinstance(value, Mapping) or len(value) != 1:
        raise _bad(
            path,
            "a str, int, float or bool, or an object with exactly one operator",
            value,
            'write {"' + key + '": value} or {"' + key + '": {"$in": [...]}}',
        )
    ((operator, operand),) = value.items()
    op_path = f"{path}.{operator}"
    if operator not in FIELD_OPERATORS:
        raise _bad(
            op_path,
            f"one of the operators {', '.join(FIELD_OPERATORS)}",
            operator,
            "use a supported operator",
        )
    if operator in _ORDERING:
        if isinstance(operand, bool) or not isinstance(operand, int | float):
            raise _bad(op_path, "a number", operand, f"{operator} compares numbers only")
    elif operator in ("$in", "$nin"):
        if (
            not isinstance(operand, list)
            or not operand
            or not all(_scalar(x) for x in operand)
            or len({type(x) for x in operand}) != 1
        ):
            raise _bad(
                op_path,
                "a non-empty list of values of one type",
                operand,
                f'write {{"{operator}": ["a", "b"]}}',
            )
    elif not _scalar(operand):
        raise _bad(op_path, "a str, int, float or bool", operand, "compare with a single value")


def validate_where_document(
    where_document: Any, *, field: str = "where_document"
) -> dict[str, Any]:
    """Check a document-text filter and return it as a plain dict.

    Example::

        validate_where_document({"$contains": "insulin"})     # returns the filter
        validate_where_document({"$like": "insulin"})         # InvalidRequestError
    """
    _check_document(where_document, field, 0)
    return dict(where_document)


def _check_document(where: Any, field: str, depth: int) -> None:
    allowed = (*DOCUMENT_OPERATORS, *LOGICAL_OPERATORS)
    if depth > _MAX_DEPTH:
        raise _bad(field, f"at most {_MAX_DEPTH} nested levels", "deeper", "flatten the filter")
    if not isinstance(where, Mapping) or len(where) != 1:
        raise _bad(
            field,
            f"an object with exactly one operator ({', '.join(allowed)})",
            where,
            'write {"$contains": "word"}',
        )
    ((operator, operand),) = where.items()
    path = f"{field}.{operator}"
    if operator in LOGICAL_OPERATORS:
        if not isinstance(operand, list) or len(operand) < 2:
            raise _bad(
                path,
                "a list of at least two filters",
                operand,
                f"combine two or more with {operator}",
            )
        for n, sub in enumerate(operand):
            _check_document(sub, f"{path}.{n}", depth + 1)
        return
    if operator not in DOCUMENT_OPERATORS:
        raise _bad(path, f"one of the operators {', '.join(allowed)}", operator, "use one of those")
    if not isinstance(operand, str) or not operand:
        raise _bad(path, "a non-empty string", operand, "give the text or pattern to match")
    if operator in ("$regex", "$not_regex"):
        try:
            re.compile(operand)
        except re.error as exc:
            raise _bad(
                path, "a valid regular expression", operand, f"fix the pattern ({exc})"
            ) from exc


def matches_where(where: Mapping[str, Any] | None, metadata: Mapping[str, Any]) -> bool:
    """Whether ``metadata`` passes a (validated) ``where`` filter, with ChromaDB's semantics:
    ``$ne`` and ``$nin`` also match a missing key, numbers compare across int and float,
    booleans equal only booleans.

    Example::

        matches_where({"year": {"$gte": 2020}}, {"year": 2021})     # True
        matches_where({"lang": {"$ne": "en"}}, {})                    # True
    """
    if not where:
        return True
    ((key, value),) = where.items()
    if key == "$and":
        return all(matches_where(sub, metadata) for sub in value)
    if key == "$or":
        return any(matches_where(sub, metadata) for sub in value)
    if not isinstance(value, Mapping):
        value = {"$eq": value}
    ((operator, operand),) = value.items()
    present = key in metadata
    actual = metadata.get(key)
    if operator == "$ne":
        return not present or not _equal(actual, operand)
    if operator == "$nin":
        return not present or not any(_equal(actual, x) for x in operand)
    if not present:
        return False
    if operator == "$eq":
        return _equal(actual, operand)
    if operator == "$in":
        return any(_equal(actual, x) for x in operand)
    if isinstance(actual, bool) or not isinstance(actual, int | float):
        return False
    number = float(operand)
    if operator == "$gt":
        return actual > number
    if operator == "$gte":
        return actual >= number
    if operator == "$lt":
        return actual < number
    return actual <= number  # $lte


def _equal(actual: Any, expected: Any) -> bool:
    if isinstance(actual, bool) or isinstance(expected, bool):
        return isinstance(actual, bool) and isinstance(expected, bool) and actual == expected
    if isinstance(actual, str) or isinstance(expected, str):
        return isinstance(actual, str) and isinstance(expected, str) and actual == expected
    return bool(actual == expected)


def matches_document(where_document: Mapping[str, Any] | None, text: str) -> bool:
    """Whether ``text`` passes a (validated) ``where_document`` filter (case-sensitive
    ``$contains``, ``re.search`` for ``$regex``), as ChromaDB applies it.

    Example::

        matches_document({"$contains": "insulin"}, "insulin lowers glucose")    # True
    """
    if not where_document:
        return True
    ((operator, operand),) = where_document.items()
    if operator == "$and":
        return all(matches_document(sub, text) for sub in operand)
    if operator == "$or":
        return any(matches_document(sub, text) for sub in operand)
    if operator == "$contains":
        return operand in text
    if operator == "$not_contains":
        return operand not in text
    found = re.search(operand, text) is not None
    return found if operator == "$regex" else not found
