"""Serve localstripe on 127.0.0.1 only, from an empty store that is never written to disk.

Run by the test fixture as ``python localstripe_server.py PORT``. localstripe's own
entry point listens on every interface and saves its store to a shared file in
/tmp after each change; the tests want neither.

localstripe's subscriptions lack the ``default_payment_method`` field that
Stripe documents on every subscription (``null`` when none was set), so it
refuses to expand it ("Bad expand"); the wrapper gives them the field, ``null``,
as Stripe returns it for a subscription created without one.
"""

from __future__ import annotations

import sys

from aiohttp import web
from localstripe import resources
from localstripe.server import app


def main() -> None:
    port = int(sys.argv[1])
    resources.Store.dump_to_disk = lambda self: None  # type: ignore[method-assign]
    resources.Subscription.default_payment_method = None  # type: ignore[attr-defined]
    resources.store.clear()
    web.run_app(app, host="127.0.0.1", port=port, print=lambda *_: None)


if __name__ == "__main__":
    main()
