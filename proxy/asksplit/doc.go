// Package asksplit finds ASK statements in the text of a simple-protocol Query.
//
// A Query may hold several statements (psql -c 'select 1; ASK how many orders'). Split cuts the
// text into statements with a lexer that knows PostgreSQL's quoting ('…' with ” escapes, E'…'
// with backslash escapes, "…" identifiers, $tag$…$tag$ dollar quotes, -- line comments and
// nested /* */ comments; standard_conforming_strings is assumed on) and reports for each one
// whether it is an ASK.
//
// # ASK statements
//
// A statement is an ASK when, after leading white space and comments (Metabase prefixes
// `-- Metabase:: userID: 1 …`), it starts with the word ASK in any case, followed by white space,
// the end of the text, `;`, a quote character (' or ") or a comment. The rest is a question in
// prose, which no SQL lexer can read (apostrophes: "what's the customer's total"), so:
//
//   - Unquoted, the question runs to the end of the Query text; a trailing `;` and white space
//     are dropped. `select 1; ASK what's new; select 2` holds two statements, and the question
//     is "what's new; select 2".
//   - Quoted, as `ASK 'what”s new'`, `ASK E'what\'s new'`, `ASK $$what's new$$`,
//     `ASK $q$what's new$q$` or `ASK "what's new"`, the question is the unquoted content and
//     splitting goes on after the closing quote. This is the form interactive psql needs, since
//     psql lexes its input and waits for a closing quote before sending anything. The quoted
//     form applies only when the closing quote is followed by nothing but white space and
//     comments up to a `;` or the end of the text; otherwise the question is unquoted and keeps
//     its quotes (`ASK 'gold' customers by revenue` asks "'gold' customers by revenue").
//   - `ASK;` or a bare `ASK` is an ASK with an empty question; the caller should answer it with
//     an error.
//   - `ASK$$…$$` (no space) is not an ASK: PostgreSQL lexes `ASK$$` as one identifier, as psql
//     does; write `ASK $$…$$`.
//
// # Dry run: EXPLAIN ASK
//
// `EXPLAIN ASK <question>` (any case, comments allowed between the words) is the dry-run form:
// the caller returns the generated SQL as a one-row result instead of running it. EXPLAIN was
// chosen because it cannot clash with a question (the marker comes before ASK, so every question
// text remains possible, including one starting with "sql" or "?"), it is not valid PostgreSQL
// (ASK is no statement), and it reads the way PostgreSQL users already expect: EXPLAIN shows what
// would run without running it. Such statements have IsASK and DryRun set.
//
// # Follow-ups: ASK and …
//
// An ASK whose question starts with the word "and" or "but" (any case; `ASK and only for
// cancelled orders`, `ASK but in 2024`) is a follow-up (Statement.FollowUp): the caller answers
// it as a refinement of the session's previous question. The rule reads as English does: a
// question that opens with "and" or "but" continues one asked before and means nothing alone,
// so no standalone question is mistaken for one, while "andorra's customers" or "orders and
// customers" are standalone (the whole first word must be "and" or "but").
//
// # TEACH
//
// `TEACH <quoted question> AS <SQL>` stores a verified question → SQL pair: the question must
// be quoted ('…', E'…', $$…$$, $tag$…$tag$ or "…"), since only the closing quote can say where
// prose ends; the word AS follows; the SQL, lexed as SQL, runs to the statement's `;`
// (Statement.TeachSQL, trimmed). TEACH is not valid PostgreSQL, so it clashes with no statement.
// A statement starting with the word TEACH of another shape is reported with IsTeach and an
// empty Question, for the caller to refuse with a syntax error.
//
// # Parenthesised ASK (subquery)
//
// BI tools wrap custom SQL in a subquery: Tableau sends
// `SELECT * FROM (ASK how many orders) "Custom SQL Query" LIMIT 0`. In a statement that is not
// itself an ASK, a `(` that follows the word FROM, JOIN or AS (a FROM item or a CTE body) and
// whose content starts with the word ASK is reported in Statement.Embedded with the byte span of
// the whole parenthesised group, so the caller can replace it with `(generated SQL)` and keep the
// rest. Inside the parentheses an unquoted question runs to the `)` that balances the opening
// one (parentheses in the question must balance; apostrophes may appear freely); a quoted
// question must be followed by `)`. Only those three keywords open such a group, so a column
// named ask (`SELECT (ask - bid) FROM quotes`) is never mistaken for a question.
//
// # Errors
//
// An unterminated quoted string, quoted identifier, dollar quote or block comment outside an
// ASK question, or a parenthesised ASK without its closing `)`, makes Split return the
// statements found (the last one running to the end of the text) together with a *SyntaxError
// that wraps ErrUnterminated. PostgreSQL rejects such a Query as a whole before it runs any part
// of it, so the caller should run nothing and answer with a syntax error (SQLSTATE 42601).
//
// # Routine bodies
//
// Statements end at every `;` outside quotes and comments, except inside a SQL-standard routine
// body: like psql, Split follows BEGIN … END (and CASE … END inside it) in a statement that
// starts CREATE [OR REPLACE] FUNCTION|PROCEDURE, so `CREATE FUNCTION f() RETURNS int LANGUAGE
// sql BEGIN ATOMIC SELECT 1; END; ASK …` holds two statements.
package asksplit
