"""Django: an installable app serving the billing page's JSON API and the webhook.

Add ``"workspace_billing.integrations.django"`` to ``INSTALLED_APPS``, include
``workspace_billing.integrations.django.urls`` and name your ``Billing`` in the
``WORKSPACE_BILLING`` setting (docs/frameworks.md). ``manage.py billing_renew``
runs the renewal job.
"""
