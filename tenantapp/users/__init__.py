"""Users of a tenant: model, traversal resources, JSON views."""
