"""The operator API: tenant lifecycle over HTTP, with the same code as ``tenantapp-admin``."""
