"""The OpenAPI 3.1 description: valid, served, and naming every view the app has."""

from openapi_spec_validator import validate

from tenantapp.console.resources import Page
from tenantapp.interfaces import IOpenAPIDocument, service
from tenantapp.openapi import DESCRIBED_ELSEWHERE


def test_the_description_is_valid_openapi_3_1(testapp):
    spec = testapp.get("/openapi.json", status=200).json
    assert spec["openapi"] == "3.1.0"
    validate(spec)


def test_every_view_of_the_app_is_described(app):
    registered = {
        (view["context"], view["name"], method)
        for view in (i["introspectable"] for i in app.registry.introspector.get_category("views"))
        if not view["exception_only"]
        and view["context"] is not None
        # the console's pages (its own and the features') are HTML for a browser, not API
        and not _console_page(view["context"])
        for method in _methods(view["request_methods"])
    }
    operations = service(app.registry, IOpenAPIDocument).operations
    described = {(op.context, op.name, op.method) for op in operations}
    assert registered - DESCRIBED_ELSEWHERE <= described, registered - described


def _console_page(context) -> bool:
    return context.__module__.startswith("tenantapp.console") or (
        isinstance(context, type) and issubclass(context, Page)
    )


def _methods(methods) -> tuple:
    return (methods,) if isinstance(methods, str) else tuple(methods or ())


def test_request_bodies_are_the_models_the_views_validate_with(testapp, tenant):
    spec = testapp.get("/openapi.json").json
    create = spec["paths"]["/{tenant}/users"]["post"]["requestBody"]["content"]
    schema = spec["components"]["schemas"][create["application/json"]["schema"]["$ref"][21:]]
    assert set(schema["required"]) == {"email", "name"}
    refused = testapp.post_json(
        f"/{tenant.slug}/users", {"email": "a@example.com"}, headers=tenant.auth, status=400
    )
    assert "name" in refused.json["fields"]
    settings = spec["paths"]["/{tenant}/settings"]["patch"]["requestBody"]["content"]
    owner_change = settings["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
    assert owner_change == "OwnerChange"
    assert "theme" in spec["components"]["schemas"]["OwnerChangeSettings"]["properties"]  # the ini


def test_the_page_lists_every_operation_without_script(app, testapp):
    page = testapp.get("/openapi.html", status=200)
    assert page.content_type == "text/html"
    assert "<script" not in page.text
    operations = service(app.registry, IOpenAPIDocument).operations
    offered = [op for op in operations if op.offered(app.registry.settings)]
    assert len(offered) < len(operations)  # the custom-domain operations: off in these settings
    for op in offered:
        assert f"<code>{op.path}</code>" in page.text


def test_answers_are_described_by_the_models_the_views_return_through(testapp, tenant):
    """A user's answer has exactly the fields of the model it was made by, and the document
    describes it by that model."""
    spec = testapp.get("/openapi.json").json
    created = spec["paths"]["/{tenant}/users"]["post"]["responses"]["201"]["content"]
    assert created["application/json"]["schema"] == {"$ref": "#/components/schemas/UserOut"}
    user = spec["components"]["schemas"]["UserOut"]
    answer = testapp.get(f"/{tenant.slug}/users", headers=tenant.auth).json["items"][0]
    assert set(answer) == set(user["properties"]) == set(user["required"])
    assert user["properties"]["created_at"]["format"] == "date-time"
    login = spec["paths"]["/{tenant}/tokens"]["post"]["responses"]["201"]["content"]
    token = login["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
    assert spec["components"]["schemas"][token]["properties"]["user"]["$ref"].endswith("UserOut")
