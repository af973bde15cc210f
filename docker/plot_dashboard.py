#!/usr/bin/env python3
"""Renders the Grafana dashboard (docker/grafana/dashboards/otpgate.json) without Grafana: each
panel's queries are run as range queries against Prometheus's HTTP API (/api/v1/query_range) and
plotted with matplotlib in the dashboard's grid. Grafana is not installable where the screenshot
is made (no release package reachable), so this stands in for its renderer.

    python3 docker/plot_dashboard.py --prometheus http://127.0.0.1:9090 --minutes 3 --out docker/dashboard.png

Variables take their "All" value (.*); $__rate_interval is --rate-interval.
"""
import argparse
import json
import re
import time
import urllib.parse
import urllib.request

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def query_range(base, expr, start, end, step):
    params = urllib.parse.urlencode({"query": expr, "start": start, "end": end, "step": step})
    with urllib.request.urlopen(f"{base}/api/v1/query_range?{params}", timeout=30) as response:
        body = json.load(response)
    if body["status"] != "success":
        raise SystemExit(f"{expr}: {body}")
    return body["data"]["result"]


def legend(fmt, labels):
    return re.sub(r"\{\{\s*(\w+)\s*\}\}", lambda m: labels.get(m.group(1), ""), fmt) or str(labels)


def substitute(expr, variables, rate_interval):
    for builtin in ("$__rate_interval", "$__interval", "$__range"):
        expr = expr.replace(builtin, rate_interval)
    for name in variables:
        expr = expr.replace("${" + name + "}", ".*").replace("$" + name, ".*")
    return expr


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prometheus", default="http://127.0.0.1:9090")
    parser.add_argument("--dashboard", default="docker/grafana/dashboards/otpgate.json")
    parser.add_argument("--minutes", type=float, default=5)
    parser.add_argument("--step", type=float, default=2)
    parser.add_argument("--rate-interval", default="15s")
    parser.add_argument("--out", default="docker/dashboard.png")
    args = parser.parse_args()

    dashboard = json.load(open(args.dashboard))
    variables = [v["name"] for v in dashboard["templating"]["list"]]
    panels = [p for p in dashboard["panels"] if p["type"] != "row"]
    end = time.time()
    start = end - args.minutes * 60
    rows = max(p["gridPos"]["y"] + p["gridPos"]["h"] for p in panels)
    fig = plt.figure(figsize=(24, rows * 0.42))
    fig.suptitle(f"{dashboard['title']} (each panel's queries from Prometheus, last {args.minutes:g} min)", fontsize=16)
    grid = fig.add_gridspec(rows, 24, hspace=2.2, wspace=1.2)
    for panel in panels:
        pos = panel["gridPos"]
        ax = fig.add_subplot(grid[pos["y"] + 1 : pos["y"] + pos["h"] - 1, pos["x"] : pos["x"] + pos["w"] - 1])
        ax.set_title(panel["title"], fontsize=10)
        unit = panel.get("fieldConfig", {}).get("defaults", {}).get("unit", "")
        for target in panel["targets"]:
            expr = substitute(target["expr"], variables, args.rate_interval)
            for series in query_range(args.prometheus, expr, start, end, args.step):
                points = [(float(t) - end, float(v)) for t, v in series["values"] if v not in ("NaN", "+Inf", "-Inf")]
                if points:
                    xs, ys = zip(*points)
                    ax.plot([x / 60 for x in xs], ys, label=legend(target.get("legendFormat", ""), series["metric"]))
        ax.set_ylabel({"percentunit": "share", "s": "seconds", "reqps": "per second"}.get(unit, ""), fontsize=8)
        ax.set_xlabel("minutes", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
        if ax.lines:
            ax.legend(fontsize=7, loc="upper left")
    fig.savefig(args.out, dpi=70, bbox_inches="tight")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
