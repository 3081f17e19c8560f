package sqleval

import (
	"cmp"
	"errors"
	"math"
	"slices"
	"strconv"
	"strings"
)

// Result is a query result as the simple protocol returns it: column names and rows of text
// values, nil for NULL. Each row should hold len(Columns) values; Compare reads a missing value
// as NULL and ignores extra ones.
type Result struct {
	Columns []string
	Rows    [][]*string
}

// Match says how a generated result matched a gold result.
type Match string

// The ways a result can match, in the order Compare tries them.
const (
	NoMatch         Match = ""
	MatchExact      Match = "exact"      // same shape, same values in the same order (column names ignored)
	MatchNormalized Match = "normalized" // equal after normalisation (see Compare)
	MatchSubset     Match = "subset"     // every gold column equals a distinct generated column
)

// Tolerances for numbers, those of pandas' assert_series_equal (which sql-eval's subset check uses).
const (
	relTol = 1e-5
	absTol = 1e-8
)

// Compare compares a generated result with a gold result by sql-eval's rules
// (compare_df, then subset_df):
//
//  1. exact: same number of rows and columns, equal values cell by cell in order;
//  2. normalized: both results with duplicate rows dropped, columns ordered by name, and, unless
//     ordered, rows sorted by all columns (first to last) — then compared as in 1;
//  3. subset: the gold result has rows, and each gold column (in order) equals, as a sorted
//     multiset of values, a distinct generated column (first fit); the generated result reduced
//     to those columns, renamed after the gold ones, equals the gold result once both are
//     normalised. Extra generated columns are allowed, extra rows are not.
//
// Values compare as text, NULL equals NULL, and two values that both read as numbers (integers,
// decimals, floats, NaN, ±Infinity) are equal when within a relative 1e-5 (absolute 1e-8) of
// each other, the tolerance pandas applies — so 2.50 equals 2.5 and an AVG computed as numeric
// equals the same AVG computed as float8. Column names matter only through the ordering in 2.
//
// Where sql-eval's later versions re-sort ordered results by the columns found in the
// queries' ORDER BY clauses (a regular expression over the SQL), Compare keeps the row order of
// ordered questions as the queries returned it, as ../DESIGN.md states the rule.
func Compare(gold, got Result, ordered bool) Match {
	g, o := newTable(gold), newTable(got)
	if g.equal(o) {
		return MatchExact
	}
	if g.normalize(ordered).equal(o.normalize(ordered)) {
		return MatchNormalized
	}
	if subset(g, o, ordered) {
		return MatchSubset
	}
	return NoMatch
}

type cell struct {
	s     *string
	num   float64
	isNum bool
}

type table struct {
	cols []string
	rows [][]cell
}

func newTable(r Result) table {
	t := table{cols: r.Columns, rows: make([][]cell, len(r.Rows))}
	for i, row := range r.Rows {
		cs := make([]cell, len(r.Columns)) // a short row reads as NULLs, extra values are ignored
		for j, v := range row[:min(len(row), len(cs))] {
			cs[j] = cell{s: v}
			if v != nil {
				if f, err := strconv.ParseFloat(*v, 64); err == nil || isRangeErr(err) {
					cs[j].num, cs[j].isNum = f, true
				}
			}
		}
		t.rows[i] = cs
	}
	return t
}

func isRangeErr(err error) bool { return errors.Is(err, strconv.ErrRange) }

func cellEqual(a, b cell) bool {
	if a.s == nil || b.s == nil {
		return a.s == nil && b.s == nil
	}
	if *a.s == *b.s {
		return true
	}
	if !a.isNum || !b.isNum {
		return false
	}
	x, y := a.num, b.num
	if x == y || math.IsNaN(x) && math.IsNaN(y) {
		return true
	}
	if math.IsInf(x, 0) || math.IsInf(y, 0) || math.IsNaN(x) || math.IsNaN(y) {
		return false
	}
	return math.Abs(x-y) <= max(relTol*max(math.Abs(x), math.Abs(y)), absTol)
}

// equal compares shape and values (not column names).
func (t table) equal(o table) bool {
	if len(t.cols) != len(o.cols) || len(t.rows) != len(o.rows) {
		return false
	}
	for i := range t.rows {
		if len(t.rows[i]) != len(o.rows[i]) {
			return false
		}
		for j := range t.rows[i] {
			if !cellEqual(t.rows[i][j], o.rows[i][j]) {
				return false
			}
		}
	}
	return true
}

// normalize drops duplicate rows, orders columns by name and, unless ordered, sorts the rows.
func (t table) normalize(ordered bool) table {
	perm := make([]int, len(t.cols))
	for i := range perm {
		perm[i] = i
	}
	slices.SortStableFunc(perm, func(a, b int) int { return strings.Compare(t.cols[a], t.cols[b]) })
	n := table{cols: make([]string, len(t.cols))}
	for i, p := range perm {
		n.cols[i] = t.cols[p]
	}
	seen := map[string]bool{}
	var key strings.Builder
	for _, row := range t.rows {
		key.Reset()
		for _, c := range row {
			switch {
			case c.s == nil:
				key.WriteString("\x00N")
			case c.isNum:
				key.WriteString("\x00n")
				key.WriteString(strconv.FormatFloat(c.num, 'g', -1, 64))
			default:
				key.WriteString("\x00s")
				key.WriteString(strconv.Quote(*c.s))
			}
		}
		if seen[key.String()] {
			continue
		}
		seen[key.String()] = true
		nr := make([]cell, len(perm))
		for i, p := range perm {
			if p < len(row) {
				nr[i] = row[p]
			}
		}
		n.rows = append(n.rows, nr)
	}
	if !ordered {
		numeric := n.numericColumns()
		slices.SortStableFunc(n.rows, func(a, b []cell) int {
			for j := range a {
				if c := compareCells(a[j], b[j], numeric[j]); c != 0 {
					return c
				}
			}
			return 0
		})
	}
	return n
}

// numericColumns reports for each column whether all its non-NULL values are numbers; such
// columns sort by value, the others as text, so that sorting is a total order.
func (t table) numericColumns() []bool {
	num := make([]bool, len(t.cols))
	for j := range num {
		num[j] = true
		for _, row := range t.rows {
			if j < len(row) && row[j].s != nil && !row[j].isNum {
				num[j] = false
				break
			}
		}
	}
	return num
}

// compareCells orders two values of one column; NULLs sort last, as pandas' sort_values does.
func compareCells(a, b cell, numeric bool) int {
	switch {
	case a.s == nil && b.s == nil:
		return 0
	case a.s == nil:
		return 1
	case b.s == nil:
		return -1
	}
	if numeric {
		an, bn := math.IsNaN(a.num), math.IsNaN(b.num)
		switch {
		case an && bn:
			return 0
		case an:
			return 1
		case bn:
			return -1
		}
		if c := cmp.Compare(a.num, b.num); c != 0 {
			return c
		}
	}
	return strings.Compare(*a.s, *b.s)
}

// column returns column j's values sorted (numbers by value when the whole column is numeric).
func (t table) column(j int, numeric bool) []cell {
	out := make([]cell, len(t.rows))
	for i, row := range t.rows {
		out[i] = row[j]
	}
	slices.SortStableFunc(out, func(a, b cell) int { return compareCells(a, b, numeric) })
	return out
}

func subset(gold, got table, ordered bool) bool {
	if len(gold.rows) == 0 || len(gold.cols) == 0 || len(gold.rows) != len(got.rows) {
		return false
	}
	gnum, onum := gold.numericColumns(), got.numericColumns()
	used := make([]bool, len(got.cols))
	matched := make([]int, 0, len(gold.cols))
	for gi := range gold.cols {
		gc := gold.column(gi, gnum[gi])
		found := false
		for oi := range got.cols {
			if used[oi] {
				continue
			}
			oc := got.column(oi, onum[oi])
			if slices.EqualFunc(gc, oc, cellEqual) {
				used[oi], found = true, true
				matched = append(matched, oi)
				break
			}
		}
		if !found {
			return false
		}
	}
	sub := table{cols: gold.cols, rows: make([][]cell, len(got.rows))}
	for i, row := range got.rows {
		r := make([]cell, len(matched))
		for k, oi := range matched {
			r[k] = row[oi]
		}
		sub.rows[i] = r
	}
	return gold.normalize(ordered).equal(sub.normalize(ordered))
}
