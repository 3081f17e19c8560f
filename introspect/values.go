package introspect

import (
	"encoding/json"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

const (
	// maxStoredValues caps the most common values kept per column (the statistics hold up to
	// default_statistics_target, 100 by default).
	maxStoredValues = 50
	// maxValueBytes: longer values (free text, addresses) are not kept.
	maxValueBytes = 64
	// maxExampleValues is how many values a column's DDL comment shows.
	maxExampleValues = 3
	// maxExampleRunes: longer values are kept for matching but not shown as examples.
	maxExampleRunes = 32
	// maxMatches caps the question-matched values listed after the DDL (per column:
	// maxMatchesPerColumn).
	maxMatches          = 6
	maxMatchesPerColumn = 2
)

// valuesQuery is the catalog query's part that reads the most common values of text-like
// columns (type category S: text, varchar, char, name, citext, domains over them) from
// pg_stats, which lists only the columns the user may read (and hides tables whose row
// security applies to the user). Rows: v, relation oid, column name, values (JSON array).
func valuesQuery(opts Options) string {
	if !opts.Values {
		return ""
	}
	return `
UNION ALL
SELECT 'v', rel.oid::text, st.attname::text,
       pg_catalog.array_to_json((st.most_common_vals::text::text[])[1:` + itoa(maxStoredValues) + `])::text,
       NULL, NULL, NULL, NULL
FROM rel
JOIN pg_catalog.pg_stats st ON st.schemaname = rel.nspname AND st.tablename = rel.relname
  AND st.inherited = (rel.relkind = 'p')
JOIN pg_catalog.pg_attribute a ON a.attrelid = rel.oid AND a.attname = st.attname
JOIN pg_catalog.pg_type ty ON ty.oid = a.atttypid
WHERE st.most_common_vals IS NOT NULL AND ty.typcategory = 'S'`
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

// decodeValues parses a JSON array of values and keeps the short, one-line ones.
func decodeValues(b []byte, d *fieldDecoder) []string {
	if b == nil {
		return nil
	}
	var all []string
	if err := json.Unmarshal(b, &all); err != nil {
		if d.err == nil {
			d.err = err
		}
		return nil
	}
	out := make([]string, 0, len(all))
	for _, v := range all {
		if v == "" || len(v) > maxValueBytes || !utf8.ValidString(v) || strings.TrimSpace(v) != v ||
			strings.IndexFunc(v, unicode.IsControl) >= 0 {
			continue
		}
		out = append(out, v)
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// exampleValues is the DDL comment's "example: 'a', 'b'" part for c, or "".
func exampleValues(c *Column) string {
	var q []string
	for _, v := range c.Values {
		if utf8.RuneCountInString(v) > maxExampleRunes {
			continue
		}
		q = append(q, QuoteLiteral(v))
		if len(q) == maxExampleValues {
			break
		}
	}
	if len(q) == 0 {
		return ""
	}
	return "example: " + strings.Join(q, ", ")
}

// ValueMatch is a value of the database that the question mentions.
type ValueMatch struct {
	Table  *Table
	Column string
	Value  string
	// Distance is the edit distance between the value and the question's words, both folded
	// (lower case, accents and punctuation removed): 0 for an exact match.
	Distance int
}

// MatchValues finds the values of s's columns (Column.Values and enum labels) that the
// question mentions: each value, folded (lower case, without accents, punctuation as spaces), is
// compared with the question's runs of as many words (and with its quoted literals), exactly
// or within a small edit distance (1 for values of 5 to 8 characters, 2 for longer ones), so
// "orders from new york" finds 'New York' and "sao paulo" finds 'São Paulo'. Values of fewer
// than 3 characters, numbers and stop words are never matched. The result is ordered by
// distance, then by table and column order, at most maxMatches in all.
func MatchValues(s *Schema, question string) []ValueMatch {
	if s == nil {
		return nil
	}
	words := strings.Fields(foldValue(question))
	if len(words) == 0 {
		return nil
	}
	var lits []string
	for _, l := range quotedLiterals(question) {
		if f := foldValue(l); f != "" {
			lits = append(lits, f)
		}
	}
	type cand struct {
		ValueMatch
		order int
	}
	var cands []cand
	order := 0
	for i := range s.Tables {
		t := &s.Tables[i]
		for j := range t.Columns {
			c := &t.Columns[j]
			vals := c.Values
			if len(c.Enum) > 0 {
				vals = c.Enum
			}
			var col []cand
			for _, v := range vals {
				order++
				fv := foldValue(v)
				if len(fv) < 3 || isNumber(strings.ReplaceAll(fv, " ", "")) || stopWords[fv] {
					continue
				}
				d, ok := matchFolded(fv, words, lits)
				if !ok {
					continue
				}
				col = append(col, cand{ValueMatch{Table: t, Column: c.Name, Value: v, Distance: d}, order})
			}
			sort.SliceStable(col, func(a, b int) bool { return col[a].Distance < col[b].Distance })
			if len(col) > maxMatchesPerColumn {
				col = col[:maxMatchesPerColumn]
			}
			cands = append(cands, col...)
		}
	}
	sort.SliceStable(cands, func(a, b int) bool {
		if cands[a].Distance != cands[b].Distance {
			return cands[a].Distance < cands[b].Distance
		}
		return cands[a].order < cands[b].order
	})
	if len(cands) > maxMatches {
		cands = cands[:maxMatches]
	}
	out := make([]ValueMatch, len(cands))
	for i, c := range cands {
		out[i] = c.ValueMatch
	}
	return out
}

// matchFolded compares a folded value with the question's folded literals and runs of words.
func matchFolded(fv string, words, lits []string) (int, bool) {
	allowed := 0
	switch n := utf8.RuneCountInString(fv); {
	case n >= 9:
		allowed = 2
	case n >= 5:
		allowed = 1
	}
	best, found := allowed+1, false
	joined := strings.ReplaceAll(fv, " ", "")
	try := func(v, s string) {
		if d := editDistance(v, s, allowed); d <= allowed && d < best {
			best, found = d, true
		}
	}
	for _, l := range lits {
		try(fv, l)
	}
	n := len(strings.Fields(fv))
	for size := max(n-1, 1); size <= n+1; size++ {
		for i := 0; i+size <= len(words); i++ {
			run := words[i : i+size]
			// A run must not start or end with a stop word ("of new york" is not "new york").
			if size > 1 && (stopWords[run[0]] || stopWords[run[size-1]]) {
				continue
			}
			try(fv, strings.Join(run, " "))
			// Written together on one side only: "alphacode" for 'alpha-code', "new york" for 'NewYork'.
			try(joined, strings.Join(run, ""))
		}
	}
	return best, found
}

// foldValue lower-cases s, removes accents and turns every run of other characters than
// letters and digits into one space.
func foldValue(s string) string {
	var b strings.Builder
	space := true
	for _, r := range norm.NFD.String(s) {
		switch {
		case unicode.Is(unicode.Mn, r):
			continue
		case unicode.IsLetter(r) || unicode.IsDigit(r):
			b.WriteRune(unicode.ToLower(r))
			space = false
		case !space:
			b.WriteByte(' ')
			space = true
		}
	}
	return strings.TrimSpace(b.String())
}

// quotedLiterals returns the texts the question puts in single or double quotes.
func quotedLiterals(q string) []string {
	var out []string
	for _, quote := range []string{"'", `"`} {
		parts := strings.Split(q, quote)
		for i := 1; i+1 < len(parts); i += 2 {
			out = append(out, parts[i])
		}
	}
	return out
}

// editDistance is the Levenshtein distance of a and b (in runes), or limit+1 when it is
// larger than limit.
func editDistance(a, b string, limit int) int {
	ra, rb := []rune(a), []rune(b)
	if d := len(ra) - len(rb); d > limit || -d > limit {
		return limit + 1
	}
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		rowMin := cur[0]
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			rowMin = min(rowMin, cur[j])
		}
		if rowMin > limit {
			return limit + 1
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}

// RenderMatches writes the values MatchValues finds as comment lines to follow the DDL, or ""
// when there are none:
//
//	-- values in the database that match the question:
//	-- customers.city = 'New York'
//
// They come after the whole DDL so that the DDL, the same for every question on a schema,
// stays the prompt's shared prefix.
func RenderMatches(matches []ValueMatch) string {
	if len(matches) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString("-- values in the database that match the question:\n")
	for _, m := range matches {
		b.WriteString("-- " + m.Table.RefName() + "." + QuoteIdent(m.Column) + " = " + QuoteLiteral(m.Value) + "\n")
	}
	return b.String()
}

// RenderQuestion is Render(s) followed, after a blank line, by RenderMatches of the values of
// s that the question mentions: the schema part of an ASK's prompt.
func RenderQuestion(s *Schema, question string) string {
	ddl := Render(s)
	if m := RenderMatches(MatchValues(s, question)); m != "" && ddl != "" {
		ddl += "\n" + m
	}
	return ddl
}
