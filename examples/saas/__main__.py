"""``python -m examples.saas``: the example on http://127.0.0.1:8000."""

from __future__ import annotations

import uvicorn

from .app import create_app
from .config import Config


def main() -> None:
    config = Config.from_environment()
    print(f"The example SaaS: {config.public_url}  (database: {config.database_url})")
    uvicorn.run(create_app(config), host=config.host, port=config.port, log_level="warning")


if __name__ == "__main__":
    main()
