"""Example applications built on workspace_billing."""
