"""Benchmark 1: an entitlement check from a snapshot vs a plain frozenset membership test.

python benchmarks/bench_entitlements.py
"""

from __future__ import annotations

import timeit

from common import peak_rss_mb

from workspace_billing import Catalog


def main() -> None:
    entitlements = Catalog.default().entitlements("business")
    flags = frozenset(entitlements.flags)
    loops = 2_000_000
    library = min(timeit.repeat(lambda: entitlements.has("sso"), number=loops, repeat=5))
    baseline = min(timeit.repeat(lambda: "sso" in flags, number=loops, repeat=5))
    limit = min(timeit.repeat(lambda: entitlements.has("projects"), number=loops, repeat=5))
    print(f"Entitlements.has (flag):  {library / loops * 1e9:.0f} ns")
    print(f"Entitlements.has (limit): {limit / loops * 1e9:.0f} ns")
    print(f"frozenset membership:     {baseline / loops * 1e9:.0f} ns")
    print(
        f"ratio flag/baseline: {library / baseline:.2f}x; limit/baseline: {limit / baseline:.2f}x"
    )
    print(f"peak RSS: {peak_rss_mb():.0f} MB")


if __name__ == "__main__":
    main()
