package clients

import (
	"strings"
)

// question is one question of the matrix with the SQL the scripted model answers it with. Each
// one holds characters that some driver's own SQL parser reads: a `?` (JDBC and ODBC parameter
// marker), an apostrophe (a string literal to every driver that lexes), `%` (psycopg's
// placeholder prefix), `:word` (SQLAlchemy's bind parameter), `$1` (PostgreSQL's parameter
// syntax) and `;` (a statement separator to pgjdbc and psql).
type question struct {
	id, text, sql string
}

// The gold SQL returns text columns only, so every driver yields the same strings whatever its
// type mapping.
var questions = []question{
	{"plain", "how many cities are there", "SELECT count(*)::text AS n FROM cities"},
	{"paid", "What's the number of orders that are paid?", "SELECT count(*)::text AS n FROM orders WHERE status = 'paid'"},
	{"population", "What is each city's population?", "SELECT name, population::text AS population FROM cities ORDER BY name"},
	{"discount", "Which orders got 10% off; show their ids", "SELECT id::text AS id FROM orders WHERE discount = 10 ORDER BY id"},
	{"cheap", "Which orders cost less than $1 (status:open or :paid)?", "SELECT id::text AS id FROM orders WHERE amount < 1 ORDER BY id"},
}

// A form is one way of writing an ASK statement. dollar and literal are the forms documented
// for drivers and BI tools; bare is the interactive one.
type form struct {
	id   string
	text func(q string) string
	// dry: the answer is the generated SQL (one row), not the question's rows.
	dry bool
}

func literal(q string) string { return "'" + strings.ReplaceAll(q, "'", "''") + "'" }

var forms = []form{
	{id: "dollar", text: func(q string) string { return "ASK $$" + q + "$$" }},
	{id: "literal", text: func(q string) string { return "ASK " + literal(q) }},
	{id: "bare", text: func(q string) string { return "ASK " + q }},
	{id: "explain", text: func(q string) string { return "EXPLAIN ASK $$" + q + "$$" }, dry: true},
	{id: "subquery", text: func(q string) string { return "SELECT * FROM (ASK " + literal(q) + ") AS answer" }},
}

// askCase is one ASK statement the driver programs run through each of their APIs.
type askCase struct {
	ID  string `json:"id"` // form/question
	SQL string `json:"sql"`

	form form
	q    question
}

func askCases() []askCase {
	var out []askCase
	for _, f := range forms {
		for _, q := range questions {
			out = append(out, askCase{ID: f.id + "/" + q.id, SQL: f.text(q.text), form: f, q: q})
		}
	}
	return out
}

// has reports whether the question holds any of the characters in set.
func (q question) has(set ...string) bool {
	for _, s := range set {
		if strings.Contains(q.text, s) {
			return true
		}
	}
	return false
}

// unclosedQuote says a driver that lexes string literals sees one open to the end of the text
// (an odd number of apostrophes in an unquoted question).
func unclosedQuote(c askCase) bool { return strings.Count(c.SQL, "'")%2 == 1 }

// markerOutside says a `?` stands outside '…' and $$…$$ as a driver that lexes them reads the
// text: such a `?` is a parameter marker to JDBC and ODBC.
func markerOutside(sql string) bool {
	for i := 0; i < len(sql); i++ {
		switch {
		case sql[i] == '?':
			return true
		case sql[i] == '\'':
			j := strings.IndexByte(sql[i+1:], '\'')
			if j < 0 {
				return false
			}
			i += j + 1 // a doubled '' closes and reopens: the same as reading on
		case strings.HasPrefix(sql[i:], "$$"):
			j := strings.Index(sql[i+2:], "$$")
			if j < 0 {
				return false
			}
			i += j + 3
		}
	}
	return false
}

// placeholderOutside says the statement holds $1 outside $$…$$ and '…'.
func placeholderOutside(c askCase) bool { return c.form.id == "bare" && c.q.has("$1") }

// The documented ways a form breaks (README, "Which form in which client").
const (
	// errHint: pgask's answer to a question holding a $n placeholder (SQLSTATE 42P02 with a
	// hint naming ASK $$…$$); checked by code and hint, not by text.
	errHint = "\x00hint"
	// A question cut at its `;` by a client that splits statements is another question.
	errCut = "cannot be answered with this database's schema"
)

func ok() expectation { return expectation{} }

func fails(err, reason string) expectation { return expectation{err: err, reason: reason} }

func expectPgx(api string, c askCase) expectation {
	if placeholderOutside(c) {
		if api == "simple" {
			return fails("insufficient arguments", "pgx's simple protocol fills $n placeholders itself")
		}
		return fails(errHint, "pgask refuses $n in an unquoted question of the extended protocol")
	}
	return ok()
}

func expectPsql(api string, c askCase) expectation {
	if api == "-f" && c.form.id == "bare" && c.q.has(";") {
		return fails(errCut, "psql ends a statement it reads at `;`")
	}
	return ok()
}

func expectPsycopg3(api string, c askCase) expectation {
	if api != "execute" && placeholderOutside(c) {
		return fails(errHint, "pgask refuses $n in an unquoted question of the extended protocol")
	}
	return ok()
}

func expectSQLAlchemy(api string, c askCase) expectation {
	switch {
	case api == "text" && c.q.has(" :"):
		return fails("A value is required for bind parameter", "text() takes :word for a bind parameter, inside quotes too")
	case api != "text" && c.q.has("%"):
		return fails("is not a sequence", "psycopg2 formats % when SQLAlchemy passes (empty) parameters")
	}
	return ok()
}

func expectODBC(api string, c askCase) expectation {
	if c.form.id == "bare" && markerOutside(c.SQL) {
		if strings.HasSuffix(api, "=1") {
			return fails("Parameters exist but IPD isn't set", "psqlODBC takes ? for a parameter marker")
		}
		return fails("The # of binded parameters < the # of parameter markers", "psqlODBC takes ? for a parameter marker")
	}
	return ok()
}

func expectPgjdbc(api string, c askCase) expectation {
	if c.form.id != "bare" {
		return ok()
	}
	switch {
	case unclosedQuote(c):
		return fails("Unterminated string literal", "pgjdbc lexes the text and an apostrophe opens a string")
	case c.q.has(";"):
		return fails(errCut, "pgjdbc splits the text into statements at `;`")
	case api == "prepared" && markerOutside(c.SQL):
		return fails("No value specified for parameter 1", "pgjdbc takes ? for a parameter marker")
	case placeholderOutside(c):
		return fails(errHint, "pgask refuses $n in an unquoted question of the extended protocol")
	}
	return ok()
}

func expectNode(api string, c askCase) expectation {
	if api != "query" && placeholderOutside(c) {
		return fails(errHint, "pgask refuses $n in an unquoted question of the extended protocol")
	}
	return ok()
}
