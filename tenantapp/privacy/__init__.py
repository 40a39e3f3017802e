"""A person's data (GDPR articles 15, 17 and 20): ``GET /{tenant}/users/{id}/data`` hands all
of it over as a zip, ``POST …/erase`` removes or pseudonymises it everywhere in the tenant. Every
tenant model is declared (``config.add_personal_data``): tenantapp's own here (``builtin``), an
app's in its includeme; the pytest plugin's ``personal_data_coverage`` lists what is not."""

from functools import partial

from ..interfaces import IPersonalData, provide
from .declarations import Hooks, PersonalData


def add_personal_data(
    data: PersonalData,
    config,
    model,
    export=None,
    erase=None,
    contents=None,
    holds_none=False,
    name=None,
):
    """Declare what ``model`` (a tenant model) holds about a user: ``export(request, user)``
    returns it as JSON, ``erase(request, user)`` removes or pseudonymises it, ``contents``
    gives files to hand over beside it; or ``holds_none=True``."""
    if not holds_none and export is None and erase is None:
        raise ValueError(f"{model.__name__}: give export and/or erase, or holds_none=True")
    hooks = Hooks(name or model.__tablename__, export, erase, contents, holds_none)
    data.declare(model, hooks)


def includeme(config):
    """Pyramid includes this once; an app's includeme includes it before declaring."""
    from .builtin import DECLARATIONS

    data = PersonalData()
    for model, hooks in DECLARATIONS.items():
        data.declare(model, hooks)
    provide(config, data, IPersonalData)
    config.add_directive("add_personal_data", partial(add_personal_data, data))
    config.include("tenantapp.openapi")
    config.add_api_views(".views")
