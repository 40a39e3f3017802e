"""Cedar, as tenantapp speaks it: the tenant's schema (its users' attributes: role, email, its
custom fields), users as entities, one decision, and a forbid policy's residual (Cedar's
partial evaluation, the resource unknown) as a SQL condition over the users table.

Tenant policies only **forbid**: the roles grant (the ACL decides first, and denies first), and
a policy narrows what they grant. Each decision adds ``permit(principal, action, resource);``
under the tenant's forbids. A policy that errors for a pair (an attribute a user lacks) counts
as forbidding: no decision fails open.
"""

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime

import cedarpy
from sqlalchemy import Text, and_, any_, cast, false, func, literal, not_, or_, true
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.types import NullType

from ..users.custom import definitions, opened
from ..users.models import User

ACTIONS = ("view", "update", "delete", "set-role", "set-password")
GRANTED = "\npermit(principal, action, resource);\n"
CEDAR_TYPES = {"text": "String", "integer": "Long", "boolean": "Boolean", "choice": "String"}
DECLARATION = re.compile(r"\b(permit)\s*\(")


class PolicyError(ValueError):
    """A policy refused, with where: ``line`` and ``column`` of the statement, its text."""

    def __init__(self, message: str, line: int, column: int, statement: str):
        super().__init__(message)
        self.line, self.column, self.statement = line, column, statement


@dataclass(frozen=True)
class Policies:
    """A tenant's policies, parsed once per process (``store``). ``reads_principal``: whether
    they read more of the acting user than its id and role (which the token already gives):
    only then is its row read for a decision."""

    source: str
    parsed: object  # cedarpy.PolicySet: the forbids and the grant
    reads_principal: bool = True
    # what the principal's part of the decision depends on, when it can be kept: its role and
    # the action (and its id where a policy reads it); None: never kept (a policy reads the
    # time, or more of the principal than id and role)
    keyed_by_id: bool | None = None
    residuals: dict = field(default_factory=dict, compare=False)  # key -> SQL or Untranslatable
    reads_custom: bool = True  # whether a policy reads custom fields (sealed ones matter then)


@dataclass(frozen=True)
class Acting:
    """The acting user as far as policies that read only its id and role need it."""

    id: int
    role: str
    email: str = ""
    custom: dict | None = None


PRINCIPAL_ID = re.compile(r"\bprincipal\s*\.\s*id\b|\bprincipal\s*[=!]=|[=!]=\s*principal\b")
PRINCIPAL_READS = re.compile(r"\bprincipal\s*(\.\s*(?!(?:role|id)\b)\w|has\b|\[)")


def schema_of(session) -> dict:
    """The tenant's Cedar schema: its custom fields are its users' attributes too."""
    custom = {}
    for defined in definitions(session):
        kind = CEDAR_TYPES.get(defined.type)
        if kind is not None:  # numbers and dates: not comparable in a policy (yet)
            custom[defined.name] = {"type": kind, "required": False}
    user = {
        "type": "Record",
        "attributes": {
            "role": {"type": "String"},
            "email": {"type": "String"},
            "id": {"type": "Long"},
            "custom": {"type": "Record", "attributes": custom},
        },
    }
    applies = {
        "principalTypes": ["User"],
        "resourceTypes": ["User"],
        "context": {
            "type": "Record",
            "attributes": {"hour": {"type": "Long"}, "weekday": {"type": "Long"}},
        },
    }
    return {
        "": {
            "entityTypes": {"User": {"shape": user}},
            "actions": {action: {"appliesTo": applies} for action in ACTIONS},
        }
    }


def statements(source: str) -> list[tuple[int, int, str]]:
    """``(line, column, text)`` of each statement (up to its ``;``, strings and comments kept
    whole), for saying where an error is: cedarpy's messages name no position."""
    found, start, i, in_string = [], 0, 0, False
    while i < len(source):
        char = source[i]
        if in_string:
            if char == "\\":
                i += 1
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif source.startswith("//", i):
            end = source.find("\n", i)
            i = len(source) if end < 0 else end
            continue
        elif char == ";":
            found.append(start)
            start = i + 1
        i += 1
    if source[start:].strip():
        found.append(start)
    result = []
    for begin, end in zip(found, [*found[1:], len(source)], strict=True):
        text = source[begin:end]
        offset = begin + len(text) - len(text.lstrip())
        line = source.count("\n", 0, offset) + 1
        column = offset - (source.rfind("\n", 0, offset) + 1) + 1
        result.append((line, column, text.strip()))
    return result


def checked(source: str, schema: dict | None) -> Policies:
    """The policies parsed and validated against the tenant's schema (None: parsed only, as
    when a process loads what was validated on save), or a ``PolicyError`` naming the first
    statement at fault and where it starts."""
    parts = statements(source)
    for line, column, text in parts:
        if DECLARATION.search(_code(text)):
            raise PolicyError(
                "policies only forbid (the roles grant): no permit", line, column, text
            )
        try:
            cedarpy.PolicySet.from_str(text)
        except ValueError as error:
            raise PolicyError(f"does not parse: {error}", line, column, text) from None
    result = None if schema is None else cedarpy.validate_policies(source, json.dumps(schema))
    if result is not None and not result.validation_passed:
        error = result.errors[0]
        number = int(error.policy_id.removeprefix("policy") or 0) if error.policy_id else 0
        line, column, text = parts[min(number, len(parts) - 1)] if parts else (1, 1, "")
        raise PolicyError(error.error, line, column, text)
    code = _code(source)
    reads = bool(PRINCIPAL_READS.search(code))
    keyed = None if reads or re.search(r"\bcontext\b", code) else bool(PRINCIPAL_ID.search(code))
    custom = bool(re.search(r"\bcustom\b", code))
    parsed = cedarpy.PolicySet.from_str(source + GRANTED)
    return Policies(source, parsed, reads, keyed, reads_custom=custom)


def _code(text: str) -> str:
    """The statement without its strings and comments (a word in a string is no keyword)."""
    return re.sub(r'"(?:\\.|[^"\\])*"|//[^\n]*', '""', text)


def entity(session, user: User) -> dict:
    return {
        "uid": {"type": "User", "id": str(user.id)},
        "attrs": {
            "role": user.role,
            "email": user.email,
            "id": user.id,
            "custom": _cedar_values(opened(session, user.custom)),
        },
        "parents": [],
    }


def _cedar_values(values: dict) -> dict:
    return {k: v for k, v in values.items() if isinstance(v, (str, bool, int))}


def _context() -> dict:
    now = datetime.now(UTC)
    return {"hour": now.hour, "weekday": now.isoweekday()}


@dataclass(frozen=True)
class Decision:
    allowed: bool
    forbidding: list[str]  # the policies that forbid (or errored: treated as forbidding)
    errors: list[str]


def decide(policies: Policies, session, principal, action: str, resource: User) -> Decision:
    entities = [entity(session, resource)]  # the full row, when it is the principal too
    if resource.id != principal.id:
        entities.append(entity(session, principal))
    request = {
        "principal": f'User::"{principal.id}"',
        "action": f'Action::"{action}"',
        "resource": f'User::"{resource.id}"',
        "context": _context(),
    }
    answer = cedarpy.is_authorized(request, policies.parsed, entities)
    errors = [str(error) for error in answer.diagnostics.errors]
    reasons = list(answer.diagnostics.reasons)
    return Decision(answer.allowed and not errors, reasons, errors)


class Untranslatable(Exception):
    """A residual this module cannot say in SQL: the list is filtered row by row instead."""


NOTHING_FORBIDDEN = true()  # the condition of a list no policy narrows


@dataclass(frozen=True)
class Narrowing:
    """What the forbids leave for one principal and action once its part is decided: the
    residual conditions of the forbids still open (by policy id), and them as SQL (None where
    SQL cannot say them)."""

    forbids: tuple  # ((policy id, conditions), ...)
    sql: object  # a SQL condition, NOTHING_FORBIDDEN, or None
    # for the quick decision: the forbids that are one equality, as attribute -> values
    # (``resource.email == "x"``: a set lookup), and the rest, evaluated one by one
    equal: dict = field(default_factory=dict)
    rest: tuple = ()

    @classmethod
    def of(cls, forbids: list, sql) -> "Narrowing":
        equal, rest = {}, []
        for policy, conditions in forbids:
            column, value = _one_equality(conditions)
            if column is None:
                rest.append((policy, conditions))
            else:
                equal.setdefault(column.key, set()).add(value)
        frozen = {attr: frozenset(values) for attr, values in equal.items()}
        return cls(tuple(forbids), sql, frozen, tuple(rest))


def narrowing(policies: Policies, session, principal, action: str, sealed: set[str]) -> Narrowing:
    """Cedar's partial evaluation (the resource unknown) for ``principal`` and ``action``;
    kept per role and action (and id) where that is all it depends on."""
    key = None
    if policies.keyed_by_id is not None:
        by_id = principal.id if policies.keyed_by_id else None
        key = (principal.role, by_id, action, frozenset(sealed))
        known = policies.residuals.get(key)
        if known is not None:
            return known
    found = _narrowing(policies, session, principal, action, sealed)
    if key is not None and len(policies.residuals) < 10_000:
        policies.residuals[key] = found
    return found


def row_condition(policies: Policies, session, principal, action: str, sealed: set[str]):
    """A SQL condition on ``users`` keeping exactly the rows ``principal`` may ``action``
    (``NOTHING_FORBIDDEN`` when no forbid is left open); ``Untranslatable`` where SQL cannot
    say it (a sealed custom field's values, for one)."""
    found = narrowing(policies, session, principal, action, sealed).sql
    if found is None:
        raise Untranslatable("a residual")
    return found


def quick_decision(policies: Policies, session, principal, action: str, resource) -> bool | None:
    """The decision from the kept residuals, without asking Cedar again: True (allowed),
    False (forbidden), or None where the residuals hold what this module does not evaluate."""
    narrowed = narrowing(policies, session, principal, action, set())
    if not narrowed.forbids:
        return True
    if any(getattr(resource, attr) in values for attr, values in narrowed.equal.items()):
        return False
    if not narrowed.rest:
        return True
    attrs = entity(session, resource)["attrs"]
    try:
        for _policy, conditions in narrowed.rest:
            if all(_holds(condition, attrs) for condition in conditions):
                return False
    except Untranslatable:
        return None
    except (KeyError, TypeError):  # an attribute missing: Cedar errors, and so forbids
        return False
    return True


def _holds(condition: dict, attrs: dict) -> bool:
    value = _evaluate(condition["body"], attrs)
    return bool(value) if condition["kind"] == "when" else not value


def _evaluate(node: dict, attrs: dict):
    ((op, arg),) = node.items()
    if op == "Value" and isinstance(arg, (bool, str, int)):
        return arg
    if op == "unknown" and arg == [{"Value": "resource"}]:
        return attrs
    if op == "&&":
        return _evaluate(arg["left"], attrs) and _evaluate(arg["right"], attrs)
    if op == "||":
        return _evaluate(arg["left"], attrs) or _evaluate(arg["right"], attrs)
    if op == "!":
        return not _evaluate(arg["arg"], attrs)
    if op in ("==", "!="):
        left, right = _evaluate(arg["left"], attrs), _evaluate(arg["right"], attrs)
        same = type(left) is type(right) and left == right
        return same if op == "==" else not same
    if op == ".":
        return _evaluate(arg["left"], attrs)[arg["attr"]]
    if op == "has":
        record = _evaluate(arg["left"], attrs)
        if not isinstance(record, dict):
            raise TypeError("has on what is no record")  # a type error in Cedar: forbids
        return arg["attr"] in record
    raise Untranslatable(op)


def _decided_false(residual: dict) -> bool:
    return any(c["body"] == {"Value": c["kind"] != "when"} for c in residual["conditions"])


def _narrowing(policies: Policies, session, principal, action: str, sealed: set[str]):
    request = {
        "principal": f'User::"{principal.id}"',
        "action": f'Action::"{action}"',
        "context": _context(),
    }
    answer = cedarpy.is_authorized_partial(request, policies.parsed, [entity(session, principal)])
    forbids = []
    for policy, residual in sorted(answer.residuals.items()):
        if residual["effect"] != "forbid" or _decided_false(residual):
            continue
        if any(residual[part].get("op") != "All" for part in ("principal", "resource")):
            return Narrowing.of([(policy, ())], None)  # a scope: Cedar decides each pair
        forbids.append((policy, tuple(residual["conditions"])))
    if not forbids:
        return Narrowing.of([], NOTHING_FORBIDDEN)
    try:
        return Narrowing.of(forbids, _allowed_rows(forbids, _Translator(sealed)))
    except Untranslatable:
        return Narrowing.of(forbids, None)


def _allowed_rows(forbids: list, sql: "_Translator"):
    """The rows no open forbid catches, as one SQL condition. Forbids that are one equality on
    the same column (``resource.email == "x"``, the common "never this one") become one
    ``column = ANY(array)``: one parameter, not one per policy."""
    forbidden, equal = [], {}
    for _policy, conditions in forbids:
        column, value = _one_equality(conditions)
        if column is not None:
            equal.setdefault(column, []).append(value)
            continue
        forbidden.append(
            and_(
                *(
                    sql(c["body"]) if c["kind"] == "when" else not_(sql(c["body"]))
                    for c in conditions
                )
            )
        )
    for column, values in equal.items():
        # one text parameter, cast to an array on the server: psycopg adapts one string far
        # faster than a list of them (a tenth of a 50-user page's cost), and a text[] literal
        # quotes every element, so any value is safe in it. Sent untyped, so PostgreSQL reads
        # it as text[] once: as a varchar cast to varchar[] it was read again for every row
        # the page scanned (+58 µs a page instead of +13)
        listed = cast(literal(_text_array(values), NullType()), ARRAY(Text))
        forbidden.append(column == any_(listed) if len(values) > 1 else column == values[0])
    caught = or_(*forbidden)
    if sql.nullable:  # SQL cannot decide a custom field that is missing (NULL): that forbids,
        caught = func.coalesce(caught, true())  # as the error it is in Cedar would
    return not_(caught)


def _text_array(values: list[str]) -> str:
    """PostgreSQL's text[] literal of ``values``: each element double-quoted, with its
    backslashes and double quotes escaped (PostgreSQL's array input syntax)."""
    quoted = (v.replace("\\", "\\\\").replace('"', '\\"') for v in values)
    return "{" + ",".join(f'"{v}"' for v in quoted) + "}"


def _without_true(body: dict) -> dict:
    """``true && X`` (how Cedar leaves a scope it decided) as ``X``."""
    while "&&" in body and body["&&"]["left"] == {"Value": True}:
        body = body["&&"]["right"]
    return body


def _one_equality(conditions) -> tuple:
    """``(column, value)`` when a forbid's conditions are one ``resource.role``/``email`` ==
    a string (columns that are never NULL), else ``(None, None)``."""
    if len(conditions) != 1 or conditions[0]["kind"] != "when":
        return None, None
    ((op, arg),) = _without_true(conditions[0]["body"]).items()
    if op != "==":
        return None, None
    left, right = arg["left"], arg["right"]
    if "Value" in left:
        left, right = right, left
    value = right.get("Value")
    try:
        path = _path(left)
    except Untranslatable:
        return None, None
    column = {("resource", "role"): User.role, ("resource", "email"): User.email}.get(path)
    return (column, value) if column is not None and isinstance(value, str) else (None, None)


class _Translator:
    """One residual expression as SQL: booleans, ``&&``, ``||``, ``!``, ``==`` and ``!=``
    between the resource's role, email, id or a custom field and a string, integer or boolean,
    and ``has`` on its custom fields."""

    def __init__(self, sealed: set[str]):
        self.sealed = sealed
        self.nullable = False  # a custom field was read: the condition may be NULL

    def __call__(self, node: dict):
        ((op, arg),) = node.items()
        if op == "Value" and isinstance(arg, bool):
            return true() if arg else false()
        if op in ("&&", "||"):
            left, right = self(arg["left"]), self(arg["right"])
            return and_(left, right) if op == "&&" else or_(left, right)
        if op == "!":
            return not_(self(arg["arg"]))
        if op in ("==", "!="):
            compared = self._comparison(arg["left"], arg["right"])
            return compared if op == "==" else not_(compared)
        if op == "has":
            target = _path(arg["left"])
            if target == ("resource", "custom") and arg["attr"] not in self.sealed:
                self.nullable = True
                return User.custom.has_key(arg["attr"])
            if target == ("resource",) and arg["attr"] in ("role", "email", "id", "custom"):
                return true()
        raise Untranslatable(op)

    def _comparison(self, left: dict, right: dict):
        if "Value" in left:
            left, right = right, left
        value = right.get("Value")
        if "Value" not in right or not isinstance(value, (str, int)):
            raise Untranslatable("a comparison of two attributes")
        path = _path(left)
        columns = {("resource", "role"): User.role, ("resource", "email"): User.email}
        if path in columns and isinstance(value, str):
            return columns[path] == value
        if path == ("resource", "id") and isinstance(value, int):
            return User.id == value
        if len(path) == 3 and path[:2] == ("resource", "custom") and path[2] not in self.sealed:
            self.nullable = True
            stored = User.custom[path[2]]
            if isinstance(value, bool):
                return stored.as_boolean() == value
            return (stored.as_integer() if isinstance(value, int) else stored.astext) == value
        raise Untranslatable(".".join(path))


def _path(node: dict) -> tuple:
    ((op, arg),) = node.items()
    if op == "unknown" and arg == [{"Value": "resource"}]:
        return ("resource",)
    if op == ".":
        return (*_path(arg["left"]), arg["attr"])
    raise Untranslatable(op)
