"""The Python drivers of pgask's client matrix (internal/clients): psycopg2, psycopg 3, SQLAlchemy
with pandas, and pyodbc over unixODBC with psqlODBC.

    python matrix.py psycopg2|psycopg3|sqlalchemy|pyodbc

Connects to pgask at $PGASK_HOST:$PGASK_PORT (database $PGASK_DB, user $PGASK_USER), runs
ordinary traffic and every case of $PGASK_CASES (a JSON list of {"id", "sql"}) through each of
the driver's APIs, and prints one JSON line per result: {"api", "case", "rows"} with every value
as text, or {"api", "case", "error", "sqlstate", "hint"}.
"""

import json
import os
import sys

HOST = os.environ["PGASK_HOST"]
PORT = os.environ["PGASK_PORT"]
DB = os.environ["PGASK_DB"]
USER = os.environ["PGASK_USER"]
with open(os.environ["PGASK_CASES"]) as f:
    CASES = json.load(f)

PARAM_SQL = "SELECT name FROM cities WHERE population > {} ORDER BY name"
TX_INSERT = "INSERT INTO orders VALUES (100, 'Lyon', 'paid', 1.00, 0)"
COUNT_PAID = "SELECT count(*)::text FROM orders WHERE status = 'paid'"
COPY_SQL = "COPY (SELECT name, population FROM cities ORDER BY name) TO STDOUT"


def text(v):
    return None if v is None else str(v)


def emit(api, case, rows=None, err=None):
    out = {"api": api, "case": case}
    if err is None:
        out["rows"] = [[text(v) for v in r] for r in rows]
    else:
        out["error"] = " ".join(str(err).split())
        diag = getattr(err, "diag", None)  # psycopg 2 and 3
        state = getattr(err, "pgcode", None) or getattr(err, "sqlstate", None)
        if state:
            out["sqlstate"] = state
        if diag is not None and getattr(diag, "message_hint", None):
            out["hint"] = diag.message_hint
    print(json.dumps(out), flush=True)


def attempt(api, case, fn, on_error=None):
    try:
        rows = fn()
    except Exception as e:  # every driver's error is a result of the matrix
        if on_error:
            on_error()
        emit(api, case, err=e)
        return
    emit(api, case, rows)


def copy_rows(text_out):
    return [line.split("\t") for line in text_out.splitlines()]


def dbapi_plain(api, conn, param_style, catalog, copy=None):
    """The ordinary traffic of a DB-API connection in autocommit mode."""
    cur = conn.cursor()
    tables, columns = catalog()
    emit(api, "plain/tables", tables)
    emit(api, "plain/columns", columns)

    def param():
        cur.execute(PARAM_SQL.format(param_style), (300000,))
        return cur.fetchall()

    attempt(api, "plain/param", param)
    set_autocommit(conn, False)

    def tx():
        cur.execute(TX_INSERT)
        cur.execute(COUNT_PAID)
        return cur.fetchall()

    attempt(api, "plain/tx", tx)
    conn.rollback()
    set_autocommit(conn, True)

    def after():
        cur.execute(COUNT_PAID)
        return cur.fetchall()

    attempt(api, "plain/after_rollback", after)
    if copy:
        attempt(api, "plain/copy", copy)

    def error():
        cur.execute("SELECT * FROM no_such_table")
        return cur.fetchall()

    attempt(api, "plain/error", error, on_error=lambda: rollback_quietly(conn))

    def after_error():
        cur.execute("SELECT 1")
        return cur.fetchall()

    attempt(api, "plain/after_error", after_error)


def set_autocommit(conn, on):
    conn.autocommit = on


def rollback_quietly(conn):
    try:
        conn.rollback()
    except Exception:
        pass


def ask_cases(api, conn, run):
    for c in CASES:
        attempt(api, c["id"], lambda: run(c["sql"]), on_error=lambda: rollback_quietly(conn))


def catalog_query(cur):
    cur.execute(
        "SELECT c.relname FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') ORDER BY 1")
    tables = cur.fetchall()
    cur.execute("SELECT * FROM orders LIMIT 0")
    return tables, [[d[0]] for d in cur.description]


def run_psycopg2():
    import psycopg2

    conn = psycopg2.connect(host=HOST, port=PORT, dbname=DB, user=USER)
    conn.autocommit = True

    def copy():
        import io
        buf = io.StringIO()
        conn.cursor().copy_expert(COPY_SQL, buf)
        return copy_rows(buf.getvalue())

    dbapi_plain("execute", conn, "%s", lambda: catalog_query(conn.cursor()), copy)

    def run(sql):
        cur = conn.cursor()
        cur.execute(sql)
        return cur.fetchall()

    ask_cases("execute", conn, run)


def run_psycopg3():
    import psycopg

    conn = psycopg.connect(host=HOST, port=PORT, dbname=DB, user=USER, autocommit=True)

    def copy():
        out = []
        with conn.cursor().copy(COPY_SQL) as cp:
            for row in cp.rows():
                out.append(list(row))
        return out

    dbapi_plain("execute", conn, "%s", lambda: catalog_query(conn.cursor()), copy)

    def run(sql):
        return conn.execute(sql).fetchall()

    # Without parameters psycopg 3 sends a simple Query (it can hold several statements).
    ask_cases("execute", conn, run)

    # Named server-side prepared statements (the extended protocol), each run twice.
    def prepared(sql):
        first = conn.execute(sql, prepare=True).fetchall()
        second = conn.execute(sql, prepare=True).fetchall()
        if first != second:
            raise RuntimeError("the prepared statement's second run differs: %r then %r" % (first, second))
        return second

    ask_cases("prepared", conn, prepared)

    # Pipeline mode (the extended protocol, unnamed statements): the ASK and an ordinary
    # statement sent together, answered in order.
    def pipelined(sql):
        with conn.pipeline():
            asked = conn.execute(sql)
            after = conn.execute("SELECT 'after'")
        rows = asked.fetchall()
        if after.fetchall() != [("after",)]:
            raise RuntimeError("the statement after the ASK in the pipeline gave a wrong answer")
        return rows

    ask_cases("pipeline", conn, pipelined)

    # A parameter passed with the question: psycopg turns %s into $1, inside $$…$$ too, and
    # declares its type in the Parse.
    attempt("execute", "hint-params", lambda: conn.execute("ASK $$how many orders cost more than %s$$", (5,)).fetchall())


def run_sqlalchemy():
    import pandas as pd
    import sqlalchemy as sa

    engine = sa.create_engine("postgresql+psycopg2://%s@%s:%s/%s" % (USER, HOST, PORT, DB))
    insp = sa.inspect(engine)
    emit("reflection", "plain/tables", [[t] for t in sorted(insp.get_table_names(schema="public"))])
    emit("reflection", "plain/columns", [[c["name"]] for c in insp.get_columns("orders", schema="public")])
    md = sa.MetaData()
    md.reflect(engine, schema="public")

    with engine.connect() as conn:
        attempt("text", "plain/param", lambda: conn.execute(
            sa.text(PARAM_SQL.format(":pop")), {"pop": 300000}).fetchall())
        conn.rollback()

    def tx():
        with engine.connect() as conn:
            with conn.begin() as t:
                conn.execute(sa.text(TX_INSERT))
                rows = conn.execute(sa.text(COUNT_PAID)).fetchall()
                t.rollback()
            return rows

    attempt("text", "plain/tx", tx)
    with engine.connect() as conn:
        attempt("text", "plain/after_rollback", lambda: conn.execute(sa.text(COUNT_PAID)).fetchall())
        attempt("text", "plain/error", lambda: conn.execute(sa.text("SELECT * FROM no_such_table")).fetchall(),
                on_error=conn.rollback)
        attempt("text", "plain/after_error", lambda: conn.execute(sa.text("SELECT 1")).fetchall())

    def each(api, fn):
        for c in CASES:
            with engine.connect() as conn:
                attempt(api, c["id"], lambda: fn(conn, c["sql"]))

    each("text", lambda conn, sql: conn.execute(sa.text(sql)).fetchall())
    each("driver_sql", lambda conn, sql: conn.exec_driver_sql(sql).fetchall())
    each("pandas", lambda conn, sql: pd.read_sql(sql, conn).astype(object).values.tolist())


def run_pyodbc():
    import pyodbc

    for ssp in ("0", "1"):
        api = "UseServerSidePrepare=" + ssp
        conn = pyodbc.connect(
            "DRIVER={%s};SERVER=%s;PORT=%s;DATABASE=%s;UID=%s;UseServerSidePrepare=%s"
            % (os.environ["PGASK_ODBC_DRIVER"], HOST, PORT, DB, USER, ssp), autocommit=True)

        def catalog():
            cur = conn.cursor()
            tables = sorted([r.table_name] for r in cur.tables(schema="public", tableType="TABLE"))
            columns = [[r.column_name] for r in cur.columns(table="orders", schema="public")]
            return tables, columns

        dbapi_plain(api, conn, "?", catalog)

        def run(sql):
            cur = conn.cursor()
            cur.execute(sql)
            return [list(r) for r in cur.fetchall()]

        ask_cases(api, conn, run)
        conn.close()


if __name__ == "__main__":
    {"psycopg2": run_psycopg2, "psycopg3": run_psycopg3, "sqlalchemy": run_sqlalchemy,
     "pyodbc": run_pyodbc}[sys.argv[1]]()
