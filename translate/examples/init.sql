-- pgask's verified question → SQL pairs ("examples"). `pgask init --url …` runs this file; it
-- may also be run as is (psql -f init.sql). It is idempotent: a second run changes nothing.
--
-- pgask reads the rows a user may SELECT, over that user's own session: GRANTs (and row-level
-- security, where the owner adds it) decide who sees which pairs and who may add them, e.g.
--   GRANT USAGE ON SCHEMA pgask TO analysts, curators;
--   GRANT SELECT ON pgask.examples TO analysts, curators;
--   GRANT INSERT ON pgask.examples TO curators;     -- TEACH, pgask examples import
-- Without the schema (or without SELECT on the table) the feature is simply off.
CREATE SCHEMA IF NOT EXISTS pgask;
CREATE TABLE IF NOT EXISTS pgask.examples (
    id       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    question text NOT NULL CHECK (btrim(question) <> ''),
    sql      text NOT NULL CHECK (btrim(sql) <> ''),
    added_by name NOT NULL DEFAULT current_user,
    added_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE pgask.examples IS
    'Verified question -> SQL pairs: pgask answers a matching ASK with the SQL and shows similar pairs to its model';
