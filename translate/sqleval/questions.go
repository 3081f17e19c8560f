// Package sqleval scores generated SQL the way defog's sql-eval benchmark does: it reads the
// benchmark's question files, runs the gold and the generated query, compares their results
// (exact, normalised or subset match), and aggregates accuracy per query category and latency
// percentiles.
package sqleval

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Question is one row of a sql-eval question file.
type Question struct {
	DBName           string // database the question runs on (a folder of defog-data)
	Category         string // query_category
	Question         string
	Query            string // gold SQL: alternatives separated by ';', {a, b} subsets (see GoldQueries)
	Instructions     string // optional column
	FullInstructions string // optional column (advanced set)
	Line             int    // 1-based record number in the file, header excluded
}

var errMissingColumn = errors.New("missing column")

// columns maps the names in a CSV header (lower case, trimmed, a byte-order mark dropped) to
// their index.
type columns map[string]int

func headerColumns(header []string) columns {
	col := columns{}
	for i, h := range header {
		col[strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")))] = i
	}
	return col
}

// missing returns the first of names the header lacks.
func (c columns) missing(names ...string) (string, bool) {
	for _, name := range names {
		if _, ok := c[name]; !ok {
			return name, true
		}
	}
	return "", false
}

// get returns rec's field in column name, "" when the header or the record has none.
func (c columns) get(rec []string, name string) string {
	i, ok := c[name]
	if !ok || i >= len(rec) {
		return ""
	}
	return rec[i]
}

// ReadQuestions reads a sql-eval CSV file (a header row naming at least db_name, query_category,
// question and query; instructions and full_instructions are read when present, other columns
// are ignored). Fields may span lines, as in the advanced set. The file is read as Python's csv
// module reads it (sql-eval's own reader), which tolerates stray quotes.
func ReadQuestions(r io.Reader) ([]Question, error) {
	cr := &csvReader{r: bufio.NewReader(r)}
	header, err := cr.read()
	if err != nil {
		return nil, fmt.Errorf("read questions header: %w", err)
	}
	col := headerColumns(header)
	if name, ok := col.missing("db_name", "query_category", "question", "query"); ok {
		return nil, fmt.Errorf("read questions: %w %q (header %q)", errMissingColumn, name, header)
	}
	var qs []Question
	for n := 1; ; n++ {
		rec, err := cr.read()
		if errors.Is(err, io.EOF) {
			return qs, nil
		}
		if err != nil {
			return nil, fmt.Errorf("read questions record %d: %w", n, err)
		}
		q := Question{
			DBName:           strings.TrimSpace(col.get(rec, "db_name")),
			Category:         strings.TrimSpace(col.get(rec, "query_category")),
			Question:         col.get(rec, "question"),
			Query:            col.get(rec, "query"),
			Instructions:     col.get(rec, "instructions"),
			FullInstructions: col.get(rec, "full_instructions"),
			Line:             n,
		}
		if q.DBName == "" || q.Question == "" || strings.TrimSpace(q.Query) == "" {
			return nil, fmt.Errorf("read questions record %d: empty db_name, question or query", n)
		}
		qs = append(qs, q)
	}
}

// Pair is one row of a file of question → SQL pairs (pgask examples import).
type Pair struct {
	DBName   string // the db_name column; "" when the file has none
	Question string
	SQL      string // the query (or sql) column; a sql-eval gold query's first alternative
	Line     int    // 1-based record number in the file, header excluded
}

// ReadPairs reads question → SQL pairs from a CSV file with a header naming at least question
// and query (sql-eval's question files) or sql; db_name is read when present. Unlike
// ReadQuestions it keeps records with empty fields, for the caller to report. In a query
// column, a sql-eval gold query that lists alternatives gives its first, with every column of
// a `{a, b}` group; a sql column is taken as it is.
func ReadPairs(r io.Reader) ([]Pair, error) {
	cr := &csvReader{r: bufio.NewReader(r)}
	header, err := cr.read()
	if err != nil {
		return nil, fmt.Errorf("read pairs header: %w", err)
	}
	col := headerColumns(header)
	sqlCol := "query"
	if _, ok := col[sqlCol]; !ok {
		sqlCol = "sql"
	}
	if name, ok := col.missing("question", sqlCol); ok {
		return nil, fmt.Errorf("read pairs: %w %q (header %q; want question and query or sql)", errMissingColumn, name, header)
	}
	var ps []Pair
	for n := 1; ; n++ {
		rec, err := cr.read()
		if errors.Is(err, io.EOF) {
			return ps, nil
		}
		if err != nil {
			return nil, fmt.Errorf("read pairs record %d: %w", n, err)
		}
		p := Pair{DBName: strings.TrimSpace(col.get(rec, "db_name")), Question: col.get(rec, "question"), SQL: col.get(rec, sqlCol), Line: n}
		if parts := splitSemicolons(p.SQL); sqlCol == "query" && (len(parts) > 1 || strings.ContainsRune(p.SQL, '{')) {
			// The first alternative, with all of a {a, b} group's columns (the last subset).
			for _, part := range parts {
				if alts := GoldQueries(part); len(alts) > 0 {
					p.SQL = alts[len(alts)-1]
					break
				}
			}
		}
		ps = append(ps, p)
	}
}
