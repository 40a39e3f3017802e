"""What can be set per tenant: settings and feature flags declared in the ini, with defaults.

    tenantapp.setting.theme = choice(light,dark) light owner
    tenantapp.setting.max_upload_mb = int 10 owner
    tenantapp.setting.support_email = str ""
    tenantapp.flag.new_dashboard = bool false
    tenantapp.flag.fast_search = percent 10

A plan sets some of them for the tenants on it, beneath each tenant's own overrides (where it
places them is the lifecycle's, ``lifecycle.plans``)::

    tenantapp.plan.free.settings = quota_max_users=10 quota_paced_requests_per_second=5
    tenantapp.plan.free.flags = new_dashboard=false

A setting is ``TYPE DEFAULT [owner]``: int (64-bit), int(N,LOW..HIGH,…) (those values only),
float (finite), bool, str (no NUL) or choice(a,b,…); ``owner`` lets the
tenant's owner change it, otherwise only the operator can. A flag is ``bool DEFAULT`` or
``percent DEFAULT``: a percentage flag is on for that share of tenants, picked by a stable hash
of the flag's name and the tenant's id, so raising the percentage only ever adds tenants.
Overrides live on the tenant's registry row and travel with the directory entry, which the
registry's trigger keeps true in every process's cache.
"""

import hashlib
import json
import re
import shlex
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    TypeAdapter,
    create_model,
)
from pydantic import ValidationError as PydanticValidationError
from pyramid.exceptions import ConfigurationError

from ..tenancy.directory import TenantEntry
from ..validation import NO_NUL_PATTERN

SETTING_PREFIX = "tenantapp.setting."
FLAG_PREFIX = "tenantapp.flag."
PLAN_PREFIX = "tenantapp.plan."
NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
CHOICE = re.compile(r"^choice\(([^()]+)\)$")
MAX_TEXT = 2000
INT64 = (-(2**63), 2**63 - 1)
RANGES = re.compile(r"^int\(([-0-9., ]+)\)$")
TYPES: dict[str, Any] = {
    "int": Annotated[int, Field(ge=INT64[0], le=INT64[1])],
    "float": Annotated[float, Field(allow_inf_nan=False)],
    "bool": bool,
    "str": Annotated[str, StringConstraints(max_length=MAX_TEXT, pattern=NO_NUL_PATTERN)],
    "percent": Annotated[int, Field(ge=0, le=100)],
}


def int_ranges(text: str, key: str) -> Any:
    """``int(0,64..2147483647)``: an int that is one of the values or within one of the ranges
    (what a setting passed to PostgreSQL takes, with 0 for "the server's")."""
    spans = []
    for part in text.split(","):
        low, dots, high = part.strip().partition("..")
        try:
            spans.append((int(low), int(high if dots else low)))
        except ValueError:
            raise ConfigurationError(f"{key}: {text!r} is not int(N,LOW..HIGH,…)") from None
    said = " or ".join(f"{a}" if a == b else f"from {a} to {b}" for a, b in spans)

    def within(value: int) -> int:
        if not any(a <= value <= b for a, b in spans):
            raise ValueError(f"must be {said}")
        return value

    return Annotated[int, AfterValidator(within)]


@dataclass(frozen=True)
class Spec:
    name: str
    kind: str  # a key of TYPES, or "choice"
    type: Any
    default: Any
    owner_editable: bool = False
    adapter: TypeAdapter = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        object.__setattr__(self, "adapter", TypeAdapter(self.type))

    def value(self, overrides: dict) -> Any:
        """The override if it is one of this type (an imported archive or an ini changed since
        may hold one that is not), else the default."""
        if self.name not in overrides:
            return self.default
        try:
            return self.adapter.validate_python(overrides[self.name], strict=True)
        except PydanticValidationError:
            return self.default

    def describe(self, overrides: dict) -> dict:
        return {
            "type": self.kind,
            "default": self.default,
            "override": overrides.get(self.name),
            "value": self.value(overrides),
            "owner_editable": self.owner_editable,
        }


def parse_spec(key: str, text: str, flag: bool) -> Spec:
    """One ``TYPE DEFAULT [owner]`` declaration; a clear error at start-up if it is wrong."""
    name = key.removeprefix(FLAG_PREFIX if flag else SETTING_PREFIX)
    if not NAME.match(name):
        raise ConfigurationError(f"{key}: a name is lowercase letters, digits and _")
    try:
        words = shlex.split(text)
    except ValueError as error:
        raise ConfigurationError(f"{key}: {error}") from None
    if len(words) not in (2, 3) or (len(words) == 3 and words[2] != "owner"):
        raise ConfigurationError(f"{key}: expected 'TYPE DEFAULT [owner]', not {text!r}")
    if flag and (words[0] not in ("bool", "percent") or len(words) == 3):
        raise ConfigurationError(f"{key}: a flag is 'bool DEFAULT' or 'percent DEFAULT'")
    kind, default = words[0], words[1]
    choice, ranges = CHOICE.match(kind), RANGES.match(kind)
    if ranges and not flag:
        kind, type_ = "int", int_ranges(ranges.group(1), key)
    elif choice:
        kind, type_ = "choice", Literal[tuple(c.strip() for c in choice.group(1).split(","))]
    elif kind in TYPES and (flag or kind != "percent"):
        type_ = TYPES[kind]
    else:
        raise ConfigurationError(f"{key}: unknown type {kind!r}")
    try:
        value = TypeAdapter(type_).validate_python(
            default if kind in ("str", "choice") else _loose(default)
        )
    except PydanticValidationError as error:
        problem = error.errors()[0]["msg"]
        raise ConfigurationError(f"{key}: default {default!r}: {problem}") from None
    return Spec(name, kind, type_, value, owner_editable=len(words) == 3)


def _loose(text: str) -> Any:
    """A value typed on a command line or in the ini: JSON where it is JSON, else the text."""
    try:
        return json.loads(text)
    except ValueError:
        return text


class Catalog:
    """The declared settings and flags, and the input models that validate changes to them."""

    def __init__(self, settings: list[Spec], flags: list[Spec], plans: dict | None = None):
        self.settings = {spec.name: spec for spec in settings}
        self.flags = {spec.name: spec for spec in flags}
        self.operator_change = _change_model("OperatorChange", self.settings, self.flags)
        self.owner_change = _change_model(
            "OwnerChange",
            {n: s if s.owner_editable else OPERATORS_ONLY for n, s in self.settings.items()},
            dict.fromkeys(self.flags, OPERATORS_ONLY),
        )
        # plan name -> (settings, flags) it sets, each checked as the operator's change is
        self.plans = {name: self._plan(name, text) for name, text in (plans or {}).items()}

    @classmethod
    def from_settings(cls, settings: dict) -> "Catalog":
        plans: dict[str, dict] = {}
        for key, value in settings.items():
            name, _, part = key.removeprefix(PLAN_PREFIX).partition(".")
            if key.startswith(PLAN_PREFIX) and part in ("settings", "flags"):
                plans.setdefault(name, {"settings": "", "flags": ""})[part] = value
        return cls(
            [parse_spec(k, v, False) for k, v in settings.items() if k.startswith(SETTING_PREFIX)],
            [parse_spec(k, v, True) for k, v in settings.items() if k.startswith(FLAG_PREFIX)],
            plans,
        )

    def _plan(self, name: str, text: dict) -> tuple[dict, dict]:
        try:
            given = self.from_command_line(
                shlex.split(text["settings"]), shlex.split(text["flags"])
            )
            return changes(self.operator_change.model_validate(given))
        except (ValueError, PydanticValidationError) as error:
            raise ConfigurationError(f"{PLAN_PREFIX}{name}: {error}") from None

    def overrides(self, entry: TenantEntry) -> tuple[dict, dict]:
        """The tenant's (settings, flags) overrides: its own over its plan's."""
        plan = self.plans.get(entry.plan) if entry.plan else None
        if plan is None:
            return entry.settings, entry.flags
        return {**plan[0], **entry.settings}, {**plan[1], **entry.flags}

    def values(self, entry: TenantEntry) -> dict:
        """The tenant's settings: its overrides over its plan's, over the defaults (undeclared
        ones ignored)."""
        settings = self.overrides(entry)[0]
        return {name: spec.value(settings) for name, spec in self.settings.items()}

    def choices(self) -> dict[str, tuple[str, ...]]:
        """Each choice setting's choices, in the order declared (for a form's select)."""
        return {n: s.type.__args__ for n, s in self.settings.items() if s.kind == "choice"}

    def feature(self, entry: TenantEntry | None, name: str) -> bool:
        spec = self.flags.get(name)
        if spec is None:
            raise KeyError(f"no feature flag {name!r} is declared (tenantapp.flag.{name})")
        value = spec.default if entry is None else spec.value(self.overrides(entry)[1])
        if spec.kind == "bool":
            return bool(value)
        return entry is not None and bucket(name, entry.id) < value

    def features(self, entry: TenantEntry) -> dict[str, bool]:
        return {name: self.feature(entry, name) for name in self.flags}

    def describe(self, entry: TenantEntry) -> dict:
        """Everything the operator sees: per setting and flag its type, default, override and
        value (a percentage flag also says whether it is on for this tenant)."""
        settings, flags = self.overrides(entry)
        plan_settings, plan_flags = self.plans.get(entry.plan, ({}, {}))

        def of(spec: Spec, merged: dict, own: dict, plan: dict) -> dict:
            return {
                **spec.describe(merged),
                "override": own.get(spec.name),
                "plan": plan.get(spec.name),
            }

        return {
            "settings": {
                n: of(s, settings, entry.settings, plan_settings) for n, s in self.settings.items()
            },
            "flags": {
                n: {**of(s, flags, entry.flags, plan_flags), "on": self.feature(entry, n)}
                for n, s in self.flags.items()
            },
        }

    def from_command_line(self, settings: list[str], flags: list[str]) -> dict:
        """``NAME=VALUE`` pairs (``NAME=`` resets), as the operator's change would be."""
        return {
            "settings": dict(_pair(item) for item in settings),
            "flags": dict(_pair(item) for item in flags),
        }


def _pair(item: str) -> tuple[str, Any]:
    name, equals, value = item.partition("=")
    if not equals:
        raise ValueError(f"expected NAME=VALUE, not {item!r}")
    if value == "":
        return name, None
    return name, _loose(value)


def bucket(flag: str, tenant_id: int) -> int:
    """0 to 99, fixed for a flag and a tenant."""
    digest = hashlib.sha256(f"{flag}:{tenant_id}".encode()).digest()
    return int.from_bytes(digest[:4], "big") % 100


STRICT = ConfigDict(extra="forbid", strict=True)


def _operators_only(value: Any) -> Any:
    raise ValueError("only the operator can change this")


# in the owner's change model, what the owner sees but may not change: named as such
OPERATORS_ONLY = Spec("", "operator", Annotated[Any, AfterValidator(_operators_only)], None)


def _change_model(name: str, settings: dict[str, Spec], flags: dict[str, Spec]) -> type[BaseModel]:
    """``{"settings": {...}, "flags": {...}}``: each value of its declared type, or null to go
    back to the default; names not declared (or not the tenant's to change) are refused."""

    def part(part_name: str, specs: dict[str, Spec]) -> type[BaseModel]:
        fields = {
            n: (s.type if s is OPERATORS_ONLY else s.type | None, None) for n, s in specs.items()
        }
        return create_model(f"{name}{part_name}", __config__=STRICT, **fields)

    settings_model, flags_model = part("Settings", settings), part("Flags", flags)
    return create_model(
        name,
        __config__=STRICT,
        settings=(settings_model, Field(default_factory=settings_model)),
        flags=(flags_model, Field(default_factory=flags_model)),
    )


def changes(model: BaseModel) -> tuple[dict, dict]:
    """The (settings, flags) a validated change names: a value to set, or None to reset."""
    return (
        model.settings.model_dump(exclude_unset=True),
        model.flags.model_dump(exclude_unset=True),
    )
