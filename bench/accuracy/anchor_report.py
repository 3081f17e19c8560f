#!/usr/bin/env python3
"""Normalise sql-eval's per-question output CSVs into one JSONL, and summarise them.

    anchor_report.py --model NAME --jsonl OUT.jsonl --summary OUT.json \
        [--meta KEY=VALUE ...] QUESTIONS.csv=RESULTS.csv [...]

QUESTIONS.csv is a question file as given to sql-eval (its record order gives "line", 1-based);
RESULTS.csv is what sql-eval's runner wrote for it (sorted by db_name, category, question, so rows
are matched back by (db_name, question), which is unique in each file). One JSON object per
question: file, line, db_name, query_category, question, generated_sql, correct (sql-eval's
verdict: exact or subset match), exact_match, executable, error, latency_ms (sql-eval's
latency_seconds: the generation call alone, rounded by sql-eval to 10 ms).

Standard library only, so it runs outside the venv too.
"""
import argparse
import csv
import json
import math
import os
import sys
from collections import OrderedDict


def read_csv(path):
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def as_int(v):
    try:
        return int(float(v))
    except (TypeError, ValueError):
        return 0


def nearest_rank(sorted_vals, p):
    if not sorted_vals:
        return None
    k = max(1, math.ceil(p / 100 * len(sorted_vals)))
    return sorted_vals[k - 1]


def build_records(model, pairs):
    out = []
    for questions_path, results_path in pairs:
        questions = read_csv(questions_path)
        results = {(r["db_name"], r["question"]): r for r in read_csv(results_path)}
        if len(results) < len(questions):  # sql-eval's -n N: the first N questions
            questions = questions[:len(results)]
        if len(results) != len(questions):
            sys.exit(f"anchor_report: {results_path} has {len(results)} rows, "
                     f"{questions_path} has {len(questions)} questions")
        for i, q in enumerate(questions, 1):
            r = results.get((q["db_name"], q["question"]))
            if r is None:
                sys.exit(f"anchor_report: {results_path} lacks {q['db_name']}: {q['question']!r}")
            error = (r.get("error_msg") or "").strip()
            out.append(OrderedDict(
                model=model,
                file=os.path.basename(questions_path),
                line=i,
                db_name=q["db_name"],
                query_category=q["query_category"],
                question=q["question"],
                generated_sql=r.get("generated_query") or "",
                correct=bool(as_int(r.get("correct"))),
                exact_match=bool(as_int(r.get("exact_match"))),
                executable=not as_int(r.get("error_db_exec")) and not error,
                error=error,
                latency_ms=round(float(r.get("latency_seconds") or 0) * 1000),
            ))
    return out


def summarise(records):
    def block(rs):
        n = len(rs)
        return OrderedDict(
            total=n,
            correct=sum(r["correct"] for r in rs),
            accuracy=round(sum(r["correct"] for r in rs) / n, 4) if n else None,
            exact_match=sum(r["exact_match"] for r in rs),
            executable=sum(r["executable"] for r in rs),
            executable_rate=round(sum(r["executable"] for r in rs) / n, 4) if n else None,
        )

    lat = sorted(r["latency_ms"] for r in records)
    s = OrderedDict(overall=block(records))
    s["by_file"] = OrderedDict(
        (f, block([r for r in records if r["file"] == f]))
        for f in OrderedDict.fromkeys(r["file"] for r in records))
    s["by_category"] = OrderedDict(
        (c, block([r for r in records if r["query_category"] == c]))
        for c in sorted({r["query_category"] for r in records}))
    s["latency_ms"] = OrderedDict(p50=nearest_rank(lat, 50), p90=nearest_rank(lat, 90),
                                  p99=nearest_rank(lat, 99), max=lat[-1] if lat else None,
                                  note="generation only (sql-eval's latency_seconds), nearest rank")
    return s


def print_table(model, s, out=sys.stdout):
    print(f"model {model}", file=out)
    print(f"{'category':>36} {'correct':>7} {'total':>5} {'accuracy':>8} {'exec':>5}", file=out)
    rows = list(s["by_category"].items()) + [("overall", s["overall"])]
    for name, b in rows:
        print(f"{name:>36} {b['correct']:>7} {b['total']:>5} {100 * b['accuracy']:>7.1f}% "
              f"{b['executable']:>5}", file=out)
    o = s["overall"]
    print(f"exact matches {o['exact_match']}, executable {o['executable']}/{o['total']} "
          f"({100 * o['executable_rate']:.1f}%), generation latency p50 {s['latency_ms']['p50']} ms "
          f"p90 {s['latency_ms']['p90']} ms", file=out)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True)
    ap.add_argument("--jsonl", required=True)
    ap.add_argument("--summary", required=True)
    ap.add_argument("--meta", action="append", default=[], help="KEY=VALUE added to the summary")
    ap.add_argument("pairs", nargs="+", metavar="QUESTIONS.csv=RESULTS.csv")
    a = ap.parse_args()
    pairs = [p.split("=", 1) for p in a.pairs]
    records = build_records(a.model, pairs)
    with open(a.jsonl, "w", encoding="utf-8") as f:
        for r in records:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    s = OrderedDict(model=a.model)
    for kv in a.meta:
        k, _, v = kv.partition("=")
        s[k] = v
    s.update(summarise(records))
    with open(a.summary, "w", encoding="utf-8") as f:
        json.dump(s, f, indent=2)
        f.write("\n")
    print_table(a.model, s)


if __name__ == "__main__":
    main()
