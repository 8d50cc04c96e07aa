"""A small multi-tenant SaaS on workspace_billing: FastAPI, Jinja2 templates, SQLite
and the local payment provider by default (README.md is the tour)."""
