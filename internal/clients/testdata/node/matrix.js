// node-postgres in pgask's client matrix (internal/clients): client.query with a text alone
// (the simple protocol), with values (the extended protocol, unnamed statement) and with a name (a named prepared statement, run twice).
//
// Connects to pgask at $PGASK_HOST:$PGASK_PORT (database $PGASK_DB, user $PGASK_USER), runs
// every case of $PGASK_CASES (a JSON list of {"id", "sql"}) and prints one JSON line per result.
'use strict';

const fs = require('fs');
const { Client } = require('pg');

// Every value as the server's text, whatever its type.
const asText = { getTypeParser: () => (v) => v };

function emit(api, id, rows, err) {
  const out = { api, case: id };
  if (err) {
    out.error = String(err.message).replace(/\s+/g, ' ');
    if (err.code) out.sqlstate = err.code;
    if (err.hint) out.hint = err.hint;
  } else {
    out.rows = rows;
  }
  process.stdout.write(JSON.stringify(out) + '\n');
}

async function attempt(api, id, fn) {
  try {
    emit(api, id, await fn());
  } catch (err) {
    emit(api, id, null, err);
  }
}

const arrays = (res) => res.rows;

async function main() {
  const cases = JSON.parse(fs.readFileSync(process.env.PGASK_CASES, 'utf8'));
  const client = new Client({
    host: process.env.PGASK_HOST,
    port: Number(process.env.PGASK_PORT),
    database: process.env.PGASK_DB,
    user: process.env.PGASK_USER,
    types: asText,
  });
  await client.connect();
  // values (even none) or a name: the extended protocol; neither: the simple protocol.
  const q = (text, values, name) => client.query({ text, values, name, rowMode: 'array', queryMode: values ? 'extended' : undefined }).then(arrays);

  await attempt('query', 'plain/tables', () => q(
    "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') ORDER BY 1"));
  await attempt('query', 'plain/columns', async () => {
    const res = await client.query({ text: 'SELECT * FROM orders LIMIT 0', rowMode: 'array' });
    return res.fields.map((f) => [f.name]);
  });
  await attempt('values', 'plain/param', () => q('SELECT name FROM cities WHERE population > $1 ORDER BY name', [300000]));
  await attempt('query', 'plain/tx', async () => {
    await client.query('BEGIN');
    try {
      await client.query("INSERT INTO orders VALUES (100, 'Lyon', 'paid', 1.00, 0)");
      return await q("SELECT count(*)::text FROM orders WHERE status = 'paid'");
    } finally {
      await client.query('ROLLBACK');
    }
  });
  await attempt('query', 'plain/after_rollback', () => q("SELECT count(*)::text FROM orders WHERE status = 'paid'"));
  await attempt('query', 'plain/error', () => q('SELECT * FROM no_such_table'));
  await attempt('query', 'plain/after_error', () => q('SELECT 1'));

  for (const c of cases) {
    await attempt('query', c.id, () => q(c.sql));
  }
  for (const c of cases) {
    await attempt('values', c.id, () => q(c.sql, []));
  }
  let n = 0;
  for (const c of cases) {
    const name = 'matrix_' + n++;
    await attempt('named', c.id, async () => {
      const first = await q(c.sql, [], name);
      const second = await q(c.sql, [], name);
      if (JSON.stringify(first) !== JSON.stringify(second)) {
        throw new Error('the named statement gave ' + JSON.stringify(second) + ' on its second run, ' + JSON.stringify(first) + ' on its first');
      }
      return first;
    });
  }
  // A question written with $1 and a value bound to it, as a tool that lets node-postgres
  // fill placeholders would send.
  await attempt('values', 'hint', () => q('ASK how many orders cost more than $1', [5]));
  // Values bound to a quoted question: the Bind carries a parameter the translation lacks.
  await attempt('values', 'hint-bind', () => q('ASK $$how many cities are there$$', [5]));
  await client.end();
}

main().catch((err) => {
  process.stderr.write(String(err && err.stack || err) + '\n');
  process.exit(1);
});
