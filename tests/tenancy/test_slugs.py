import pytest

from tenantapp.tenancy.slugs import InvalidSlug, check_slug, is_valid_slug


@pytest.mark.parametrize("slug", ["a", "acme", "acme-corp", "a1", "x" * 63, "a-1-b"])
def test_valid_slugs_are_accepted(slug):
    assert is_valid_slug(slug)
    assert check_slug(slug) == slug


@pytest.mark.parametrize(
    "slug",
    [
        "",
        "1acme",
        "-acme",
        "Acme",
        "ac me",
        "ac_me",
        "acme\n",
        "x" * 64,
        "acme;drop",
        "a'b",
        "a\x00b",
        "..",
        "%61cme",
        "\u0430cme",  # Cyrillic a
        None,
        42,
    ],
)
def test_invalid_slugs_are_refused_with_the_rule(slug):
    assert not is_valid_slug(slug)
    with pytest.raises(InvalidSlug, match="lowercase letters, digits and hyphens"):
        check_slug(slug)
