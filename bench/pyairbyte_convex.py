"""Airbyte's source-convex read into PyAirbyte's DuckDB cache, as a user of PyAirbyte would run it.

Usage: pyairbyte_convex.py DEPLOYMENT_URL ACCESS_KEY SOURCE_CONVEX_EXECUTABLE CACHE.duckdb

The connector runs from its own virtualenv (`local_executable`): it pins airbyte-cdk 0.x and
pydantic 1, which cannot share a virtualenv with PyAirbyte. Set AIRBYTE_OFFLINE_MODE=1 when the
connector registry (GitHub) is unreachable. Prints `docs=N seconds=S` (S: the read itself).
"""

import sys
import time

import airbyte as ab
from airbyte.caches import DuckDBCache


def main() -> None:
    url, key, executable, db_path = sys.argv[1:5]
    source = ab.get_source(
        "source-convex",
        config={"deployment_url": url, "access_key": key},
        local_executable=executable,
    )
    source.select_all_streams()
    cache = DuckDBCache(db_path=db_path, schema_name="main")
    started = time.monotonic()
    result = source.read(cache=cache, force_full_refresh=True)
    seconds = time.monotonic() - started
    # Rows that landed in the cache's tables (a count(*) per stream).
    docs = sum(len(dataset) for dataset in result.streams.values())
    print(f"docs={docs} seconds={seconds:.3f}")


if __name__ == "__main__":
    main()
