"""The service layer: one module per capability, composed into ``Billing``.

Internal: hosts import :class:`~workspace_billing.Billing`, never these modules.
"""
