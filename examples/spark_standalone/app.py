"""A tiny PySpark application for the Spark standalone example and its test.

Usage: ``app.py OUTPUT_PATH [N] [SLEEP_SECONDS]``

Sums ``range(N)`` (default 1000) on the cluster, sleeps ``SLEEP_SECONDS`` (default 0) so
a test can kill the submitting worker while the driver runs, then writes
``{"sum": ..., "n": ...}`` as JSON to ``OUTPUT_PATH`` (atomically, via a temporary file).
"""

from __future__ import annotations

import json
import os
import sys
import time


def main(argv: list[str]) -> int:
    if not argv:
        print("usage: app.py OUTPUT_PATH [N] [SLEEP_SECONDS]", file=sys.stderr)
        return 2
    output = argv[0]
    n = int(argv[1]) if len(argv) > 1 and argv[1] else 1000
    sleep_seconds = float(argv[2]) if len(argv) > 2 and argv[2] else 0.0

    from pyspark.sql import SparkSession

    spark = SparkSession.builder.getOrCreate()
    try:
        total = spark.sparkContext.parallelize(range(n), 2).sum()
        time.sleep(sleep_seconds)
    finally:
        spark.stop()
    tmp = f"{output}.tmp"
    with open(tmp, "w", encoding="utf-8") as handle:
        json.dump({"sum": total, "n": n}, handle)
    os.replace(tmp, output)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
