"""Web framework integrations: the billing page's JSON API and the webhook route."""
