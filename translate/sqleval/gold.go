package sqleval

import (
	"regexp"
	"strings"
)

// GoldQueries expands a gold entry into the queries whose results count as correct, as
// sql-eval's get_all_minimal_queries does: the entry is split at ';' (outside single-quoted
// literals), empty parts are dropped, and in each part the first `{a, b, …}` group in the select
// list is replaced by every non-empty subset of its columns (in itertools.combinations order:
// all singles, then pairs, …); a `GROUP BY {}` in the same part receives the chosen columns.
func GoldQueries(gold string) []string {
	var out []string
	for _, part := range splitSemicolons(gold) {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		open := strings.IndexByte(part, '{')
		if open < 0 {
			out = append(out, part)
			continue
		}
		end := strings.IndexByte(part[open+1:], '}')
		if end < 0 {
			out = append(out, part)
			continue
		}
		end += open + 1
		var opts []string
		for _, o := range strings.Split(part[open+1:end], ",") {
			opts = append(opts, strings.TrimSpace(o))
		}
		left, right := part[:open], part[end+1:]
		for _, combo := range combinations(opts) {
			cols := strings.Join(combo, ", ")
			out = append(out, left+cols+strings.ReplaceAll(right, "GROUP BY {}", "GROUP BY "+cols))
		}
	}
	return out
}

// combinations returns the non-empty subsets of opts, by size, each in input order.
func combinations(opts []string) [][]string {
	var out [][]string
	var rec func(start, size int, cur []string)
	rec = func(start, size int, cur []string) {
		if len(cur) == size {
			out = append(out, append([]string(nil), cur...))
			return
		}
		for i := start; i < len(opts); i++ {
			rec(i+1, size, append(cur, opts[i]))
		}
	}
	for size := 1; size <= len(opts); size++ {
		rec(0, size, nil)
	}
	return out
}

// splitSemicolons splits at ';' outside '…' literals (sql-eval splits naively; no gold query of
// the published sets has a ';' inside a literal, so the results agree).
func splitSemicolons(s string) []string {
	var parts []string
	inQuote := false
	last := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\'':
			inQuote = !inQuote
		case ';':
			if !inQuote {
				parts = append(parts, s[last:i])
				last = i + 1
			}
		}
	}
	return append(parts, s[last:])
}

var orderWords = regexp.MustCompile(`(?i)\b(order|sort|arrange)\b`)

// Ordered reports whether row order matters for q, as in sql-eval's normalize_table: the
// category is "order_by" or the question contains the word order, sort or arrange.
func Ordered(q Question) bool {
	return q.Category == "order_by" || orderWords.MatchString(q.Question)
}
