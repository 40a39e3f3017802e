"""Which tenant tables hold personal data, and how each gives it out and erases it.

Every model of a tenant's data is declared, once: with ``export`` (what it holds about a user,
as JSON), ``contents`` (files to hand over beside it) and ``erase`` (remove or pseudonymise
it), or as holding none. ``config.add_personal_data`` declares an app's own models; the pytest
plugin's ``personal_data_coverage`` lists the models nobody declared.
"""

from collections.abc import Callable
from dataclasses import dataclass

from ..tenancy.models import TenantBase


@dataclass(frozen=True)
class Hooks:
    name: str  # the part of the export it fills (the table's name by default)
    export: Callable | None = None  # export(request, user) -> JSON-able
    erase: Callable | None = None  # erase(request, user) -> None
    contents: Callable | None = None  # contents(request, user) -> [(name, bytes iterator)]
    holds_none: bool = False


class PersonalData:
    def __init__(self):
        self.declared: dict[type, Hooks] = {}

    def declare(self, model: type, hooks: Hooks) -> None:
        if model in self.declared:
            raise ValueError(f"{model.__name__}'s personal data is declared already")
        self.declared[model] = hooks

    def hooks(self) -> list[Hooks]:
        """App models' hooks first, tenantapp's after (its users' row goes last of all)."""
        ordered = sorted(self.declared.items(), key=lambda item: _tenantapp(item[0]))
        return [hooks for _model, hooks in ordered]

    def uncovered(self) -> list[str]:
        """The tenant models no declaration names (app authors' tests assert it is empty)."""
        models = {mapper.class_ for mapper in TenantBase.registry.mappers}
        return sorted(m.__name__ for m in models - self.declared.keys())


def _tenantapp(model: type) -> tuple[int, int]:
    ours = model.__module__.startswith("tenantapp.")
    return (int(ours), int(model.__name__ == "User"))
