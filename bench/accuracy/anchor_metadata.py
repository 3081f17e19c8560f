#!/usr/bin/env python3
"""Give sql-eval the schema of a database that defog-data lacks (e.g. pgask's demo shop).

    anchor_metadata.py QUESTIONS.csv ...

sql-eval builds its prompt's schema from the defog_data package (defog_data/<db>/<db>.json:
table_metadata, one entry per column with data_type, column_name, column_description), not from
the database. For every db_name of the question files that defog_data does not know, this reads
the live database named by PGHOST/PGPORT/PGUSER/PGPASSWORD (tables of the public schema, their
columns in order, types as format_type prints them, column comments as descriptions), writes
that JSON into $DEFOG_DATA_DIR/defog_data/<db>/, and registers it in defog_data/metadata.py's
dbs. Databases defog_data already knows are left alone. Run with sql-eval's venv.
"""
import csv
import json
import os
import sys

import psycopg2

root = os.path.join(os.environ["DEFOG_DATA_DIR"], "defog_data")
meta_py = os.path.join(root, "metadata.py")
known = set(os.listdir(root))
wanted = set()
for path in sys.argv[1:]:
    with open(path, newline="") as f:
        wanted |= {r["db_name"] for r in csv.DictReader(f)}
for db in sorted(wanted - known):
    conn = psycopg2.connect(host=os.environ.get("PGHOST", "localhost"), port=os.environ.get("PGPORT", "5432"),
                            user=os.environ.get("PGUSER", "postgres"), password=os.environ.get("PGPASSWORD", ""),
                            dbname=db)
    cur = conn.cursor()
    cur.execute("""
        SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod), coalesce(col_description(c.oid, a.attnum), '')
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
        WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm')
        ORDER BY c.relname, a.attnum""")
    tables = {}
    for table, column, typ, desc in cur.fetchall():
        tables.setdefault(table, []).append({"data_type": typ, "column_name": column, "column_description": desc})
    conn.close()
    os.makedirs(os.path.join(root, db), exist_ok=True)
    with open(os.path.join(root, db, f"{db}.json"), "w") as f:
        json.dump({"table_metadata": tables, "glossary": ""}, f, indent=2)
    with open(meta_py) as f:
        text = f.read()
    line = f'dbs["{db}"] = get_db("{db}")  # added by pgask bench/accuracy/anchor_metadata.py\n'
    if line not in text:
        with open(meta_py, "a") as f:
            f.write("\n" + line)
    print(f"anchor: schema metadata of {db} ({len(tables)} tables) added to defog_data", file=sys.stderr)
