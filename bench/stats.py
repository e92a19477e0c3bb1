"""Small shared helpers: percentiles and JSON output."""
import json
import statistics
import sys


def pct(sorted_vals, p):
    """The p-th percentile (0..100) of an already sorted list, nearest-rank."""
    if not sorted_vals:
        return None
    k = max(0, min(len(sorted_vals) - 1, int(round(p / 100.0 * len(sorted_vals) + 0.5)) - 1))
    return sorted_vals[k]


def emit(obj):
    json.dump(obj, sys.stdout)
    sys.stdout.write("\n")
    sys.stdout.flush()


def median(vals):
    return statistics.median(vals)
