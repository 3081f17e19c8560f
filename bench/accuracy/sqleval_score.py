#!/usr/bin/env python3
"""Score generated SQL with sql-eval's own comparison (cross-check of another scorer).

    sqleval_score.py [--out OUT.jsonl] [--gold csv|record] [--questions-dir DIR] IN.jsonl

IN.jsonl: one JSON object per line with generated_sql and a way to find the question:
  - file + line (file: instruct_basic_postgres.csv / instruct_advanced_postgres.csv, line: 1-based
    record number in that file), or
  - db_name + question (looked up in the question files), or
  - db_name + question + gold_query (+ query_category) when the question is in no file.
pgask eval --out records (line, db_name, query_category, question, gold_query, generated_sql,
correct) and anchor-<model>.jsonl are both accepted.

Gold query: with --gold csv (default) the question file's full gold entry is used (all its
';'-separated alternatives and {a, b} column sets, as sql-eval scores it); the record's
gold_query only when the question is not found. With --gold record, the record's gold_query.

Each generated_sql goes to sql-eval's eval.eval.compare_query_results, imported from
SQL_EVAL_DIR, against the PostgreSQL named by PGHOST (TCP), PGPORT, PGUSER, PGPASSWORD, with the
arguments sql-eval's llama.cpp runner gives it (db_type postgres, timeout 10 s, no rounding); as
in the runner, an exception (the generated SQL failing, a timeout) counts as wrong and its text
is the error. Output, one object per input record, in input order:
  {line, file, db_name, query_category, question, sqleval_correct, sqleval_exact, error,
   input_correct (the record's own "correct", if any), agree (both verdicts equal, if any)}
and a summary with the disagreements on stderr.

It needs sql-eval's Python dependencies: run it with the venv that sqleval_env.sh builds, or with
python3, which re-executes itself in that venv ($PGASK_BENCH_CACHE/venv) when it exists.
"""
import argparse
import csv
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
CACHE = os.environ.get("PGASK_BENCH_CACHE") or os.path.expanduser("~/.cache/pgask/bench")
FILES = ("instruct_basic_postgres.csv", "instruct_advanced_postgres.csv")


def ensure_env():
    try:
        import pandas, sqlalchemy, func_timeout  # noqa: F401
    except ImportError:
        venv_py = os.path.join(CACHE, "venv", "bin", "python")
        in_venv = os.path.realpath(sys.prefix) == os.path.realpath(os.path.join(CACHE, "venv"))
        if os.path.exists(venv_py) and not in_venv and not os.environ.get("SQLEVAL_SCORE_REEXEC"):
            os.environ["SQLEVAL_SCORE_REEXEC"] = "1"
            os.execv(venv_py, [venv_py] + sys.argv)
        sys.exit("sqleval_score: sql-eval's dependencies are missing; run bench/accuracy/sqleval_env.sh first")
    sql_eval = os.environ.get("SQL_EVAL_DIR") or os.path.join(CACHE, "sql-eval")
    if not os.path.isfile(os.path.join(sql_eval, "eval", "eval.py")):
        print(f"sqleval_score: no sql-eval checkout at {sql_eval} (set SQL_EVAL_DIR)", file=sys.stderr)
        sys.exit(3)
    # sql-eval's utils/creds.py reads DB*; the libpq variables name the server here
    os.environ["DBHOST"] = os.environ.get("PGHOST", "localhost")
    os.environ["DBPORT"] = os.environ.get("PGPORT", "5432")
    os.environ["DBUSER"] = os.environ.get("PGUSER", "postgres")
    os.environ["DBPASSWORD"] = os.environ.get("PGPASSWORD", "postgres")
    if os.environ["DBHOST"].startswith("/"):
        sys.exit("sqleval_score: sql-eval needs a TCP host, PGHOST is a socket folder")
    sys.path.insert(0, sql_eval)
    return sql_eval


def default_questions_dir(sql_eval):
    shared = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(HERE))), "shared", "sql-eval")
    if os.path.isfile(os.path.join(shared, FILES[0])):
        return shared
    return os.path.join(sql_eval, "data")


def load_questions(qdir):
    by_line, by_question = {}, {}
    for name in FILES:
        path = os.path.join(qdir, name)
        if not os.path.isfile(path):
            continue
        with open(path, newline="", encoding="utf-8") as f:
            for i, row in enumerate(csv.DictReader(f), 1):
                row = dict(row, file=name, line=i)
                by_line[(name, i)] = row
                by_question.setdefault((row["db_name"], row["question"].strip()), row)
    return by_line, by_question


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("input")
    ap.add_argument("--out", "-o", help="write the JSONL here (default: stdout)")
    ap.add_argument("--gold", choices=("csv", "record"), default="csv")
    ap.add_argument("--questions-dir", help="folder of the sql-eval question files")
    ap.add_argument("--timeout", type=float, default=10.0, help="per query, seconds (sql-eval's default 10)")
    a = ap.parse_args()

    sql_eval = ensure_env()
    from eval.eval import compare_query_results  # sql-eval's scorer
    from utils.creds import db_creds_all

    creds = db_creds_all["postgres"]
    by_line, by_question = load_questions(a.questions_dir or default_questions_dir(sql_eval))

    out = open(a.out, "w", encoding="utf-8") if a.out else sys.stdout
    n = n_correct = n_input_correct = n_compared = 0
    disagreements = []
    with open(a.input, encoding="utf-8") as f:
        for input_line, text in enumerate(f, 1):
            if not text.strip():
                continue
            rec = json.loads(text)
            q = None
            if rec.get("file") and rec.get("line"):
                q = by_line.get((os.path.basename(rec["file"]), int(rec["line"])))
            if q is None and rec.get("db_name") and rec.get("question"):
                q = by_question.get((rec["db_name"], rec["question"].strip()))
            db_name = rec.get("db_name") or (q or {}).get("db_name")
            question = rec.get("question") or (q or {}).get("question", "")
            category = rec.get("query_category") or (q or {}).get("query_category", "")
            if a.gold == "csv" and q is not None:
                gold = q["query"]
            else:
                gold = rec.get("gold_query") or (q or {}).get("query")
            gen = rec.get("generated_sql") or ""
            correct = exact = False
            error = ""
            if not db_name or not gold:
                error = "no gold query: the record names no known question and has no gold_query"
            elif not gen.strip():
                error = "no generated SQL"
            else:
                try:
                    exact, correct = compare_query_results(
                        query_gold=gold, query_gen=gen, db_name=db_name, db_type="postgres",
                        db_creds=creds, question=question, query_category=category,
                        table_metadata_string="", timeout=a.timeout, decimal_points=None)
                except Exception as e:  # as sql-eval's runners: any failure is a wrong answer
                    error = f"QUERY EXECUTION ERROR: {e}"
            exact, correct = bool(exact), bool(correct)
            res = {
                "line": rec.get("line", (q or {}).get("line", input_line)),
                "file": (q or {}).get("file", rec.get("file", "")),
                "db_name": db_name,
                "query_category": category,
                "question": question,
                "sqleval_correct": correct,
                "sqleval_exact": exact,
                "error": error,
            }
            n += 1
            n_correct += correct
            if "correct" in rec:
                res["input_correct"] = bool(rec["correct"])
                res["agree"] = res["input_correct"] == correct
                n_compared += 1
                n_input_correct += res["input_correct"]
                if not res["agree"]:
                    disagreements.append(res)
            out.write(json.dumps(res, ensure_ascii=False) + "\n")
            out.flush()
    if a.out:
        out.close()

    print(f"sqleval_score: {n} records, sql-eval correct {n_correct}"
          + (f" ({100 * n_correct / n:.1f}%)" if n else ""), file=sys.stderr)
    if n_compared:
        print(f"sqleval_score: input verdicts correct {n_input_correct}/{n_compared}, "
              f"disagreements {len(disagreements)}", file=sys.stderr)
        for d in disagreements:
            print(f"  {d['file']}:{d['line']} {d['db_name']}: input {d['input_correct']}, "
                  f"sql-eval {d['sqleval_correct']} {' '.join(d['error'].split())[:120]}", file=sys.stderr)


if __name__ == "__main__":
    main()
