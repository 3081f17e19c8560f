package introspect

import (
	"strconv"
	"strings"
)

// A value look-up finds values the question mentions beyond the statistics (MatchValues sees
// only pg_stats' most common values): where the pg_trgm extension exists, one bounded query
// asks each text column of the (pruned) schema for the values most like each of the
// question's words. Bounded: at most lookupColumns columns and lookupWords words, each column
// read for at most lookupRows rows (no index needed, none used), at most maxMatchesPerColumn
// values per column and word. It runs as the asking user, read-only, under a statement
// timeout (the caller's), so it sees only what the user may read.

const (
	lookupColumns = 8
	lookupWords   = 3
	lookupRows    = 10000
	// lookupMinWord: shorter words are not looked up (trigrams of 3 letters match too much).
	lookupMinWord = 4
)

// TrgmSchemaSQL returns the schema of the pg_trgm extension, no row when it is not installed.
// It is a catalog query that cannot fail.
const TrgmSchemaSQL = `SELECT n.nspname FROM pg_catalog.pg_extension e JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'pg_trgm'`

// Lookup is a value look-up for one question (NewLookup).
type Lookup struct {
	SQL  string // empty: nothing to look up
	cols []lookupCol
}

type lookupCol struct {
	t    *Table
	name string
}

// NewLookup builds the look-up of the question's words in the text columns of s, with
// pg_trgm's word similarity operator from schema trgm.
func NewLookup(s *Schema, question, trgm string) *Lookup {
	l := &Lookup{}
	if s == nil || trgm == "" {
		return l
	}
	words := lookupTerms(question)
	if len(words) == 0 {
		return l
	}
	op := "OPERATOR(" + QuoteIdent(trgm) + ".<%)"
	var parts []string
	for i := range s.Tables {
		t := &s.Tables[i]
		for j := range t.Columns {
			c := &t.Columns[j]
			if len(c.Enum) > 0 || !isTextType(c.Type) || len(l.cols) == lookupColumns {
				continue
			}
			k := len(l.cols)
			l.cols = append(l.cols, lookupCol{t: t, name: c.Name})
			col := QuoteIdent(c.Name)
			from := QuoteIdent(t.Schema) + "." + QuoteIdent(t.Name)
			for _, w := range words {
				parts = append(parts, "(SELECT "+strconv.Itoa(k)+", v FROM (SELECT DISTINCT "+col+"::text AS v FROM (SELECT "+col+
					" FROM "+from+" LIMIT "+strconv.Itoa(lookupRows)+") AS r WHERE "+QuoteLiteral(w)+" "+op+" "+col+"::text) AS m LIMIT "+
					strconv.Itoa(maxMatchesPerColumn)+")")
			}
		}
	}
	if len(parts) > 0 {
		l.SQL = strings.Join(parts, "\nUNION ALL\n")
	}
	return l
}

// Matches turns the look-up's rows (column index, value) into matches, leaving out values
// too long to show and repeats.
func (l *Lookup) Matches(rows [][][]byte) []ValueMatch {
	var out []ValueMatch
	seen := map[string]bool{}
	for _, r := range rows {
		if len(r) != 2 || r[0] == nil || r[1] == nil {
			continue
		}
		k, err := strconv.Atoi(string(r[0]))
		if err != nil || k < 0 || k >= len(l.cols) {
			continue
		}
		v := string(r[1])
		key := r[0]
		if len(v) > maxValueBytes || seen[string(key)+"\x00"+v] {
			continue
		}
		seen[string(key)+"\x00"+v] = true
		out = append(out, ValueMatch{Table: l.cols[k].t, Column: l.cols[k].name, Value: v, Distance: 1})
	}
	return out
}

// lookupTerms are the question's quoted literals, then its words of lookupMinWord letters or
// more that are neither numbers nor stop words, at most lookupWords.
func lookupTerms(question string) []string {
	var out []string
	seen := map[string]bool{}
	add := func(w string) {
		if len(out) < lookupWords && !seen[w] {
			seen[w] = true
			out = append(out, w)
		}
	}
	for _, l := range quotedLiterals(question) {
		if f := foldValue(l); len(f) >= lookupMinWord {
			add(f)
		}
	}
	for _, w := range strings.Fields(foldValue(question)) {
		if len(w) >= lookupMinWord && !isNumber(w) && !stopWords[w] {
			add(w)
		}
	}
	return out
}

// isTextType reports whether a column type, as format_type prints it, is text-like.
func isTextType(t string) bool {
	switch {
	case t == "text", t == "name", t == "citext", t == "character", t == "\"char\"":
		return true
	case strings.HasPrefix(t, "character varying"), strings.HasPrefix(t, "character("):
		return true
	}
	return false
}

// RenderQuestionWith is RenderQuestion with extra matches (a look-up's) after those of the
// statistics, at most maxMatches in all.
func RenderQuestionWith(s *Schema, question string, extra []ValueMatch) string {
	ddl := Render(s)
	m := MatchValues(s, question)
	for _, e := range extra {
		if len(m) >= maxMatches {
			break
		}
		dup := false
		for _, x := range m {
			if x.Table == e.Table && x.Column == e.Column && x.Value == e.Value {
				dup = true
				break
			}
		}
		if !dup {
			m = append(m, e)
		}
	}
	if r := RenderMatches(m); r != "" && ddl != "" {
		ddl += "\n" + r
	}
	return ddl
}
