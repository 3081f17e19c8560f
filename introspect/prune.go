package introspect

import (
	"math"
	"sort"
	"strings"
)

// Prune returns the part of s most relevant to question whose rendering (Render) fits in
// budgetTokens as EstimateTokens counts them. When all of s fits, s itself is returned;
// otherwise a new Schema (s is not modified) with the tables and columns kept in s's order.
//
// Relevance is lexical: question words (lower-cased, stop words dropped, plurals folded) are
// matched against table and column names — split at '_', case changes and digits, and also
// searched inside run-together names such as sbcustcountry, with common abbreviations (cust,
// tx, qty, …) — against table and column comments and against enum labels, each term weighted
// by how rare it is in the schema. Tables are ranked by how many question terms they cover;
// tables that join the chosen ones (declared foreign keys, or shared *id columns in the same
// schema) are added as connectors. Each chosen table first gets its keys, join columns and
// matching columns; then tables are completed in rank order, then more tables are added, while
// the budget lasts. A budget too small for even one table gives an empty schema.
func Prune(s *Schema, question string, budgetTokens int) *Schema {
	if s == nil {
		return nil
	}
	return NewPruner(s).Prune(question, budgetTokens)
}

// Pruner holds the question-independent analysis of a schema (identifier parts, comment
// words, join graph, rendered size). Building one costs about as much as rendering the
// schema; keep one per schema (per Fingerprint) and call Prune for each question. It is safe
// for concurrent use.
type Pruner struct {
	base     pruner
	fullCost int
}

// NewPruner analyses s, which must not change afterwards.
func NewPruner(s *Schema) *Pruner {
	p := &Pruner{base: pruner{s: s, tables: make([]tableInfo, len(s.Tables))}}
	p.base.analyse()
	p.fullCost = EstimateTokens(Render(s))
	return p
}

// Prune is the package-level Prune on the Pruner's schema.
func (pp *Pruner) Prune(question string, budgetTokens int) *Schema {
	if pp.fullCost <= budgetTokens {
		return pp.base.s
	}
	p := pp.base
	p.tables = append([]tableInfo(nil), pp.base.tables...) // per-question scores; cols shared
	p.terms = nil
	p.buildTerms(question)
	p.score()
	return p.run(budgetTokens)
}

// stopWords are dropped from questions: function words and the phrasing of requests.
var stopWords = func() map[string]bool {
	m := map[string]bool{}
	for _, w := range strings.Fields(`a an the and or of to in on at by for from with without within into
		is are was were be been being do does did has have had what which who whom whose when where why how
		many much all any each every per some this that these those their there them they it its as than then
		me my i we our us you your he she his her not no nor only also just can could would should will
		return show list give find get display tell provide include including included along based
		please want need like using use used between over under across about after before during
		value values result results one two three four five six seven eight nine ten
		top most least more less first last highest lowest greatest smallest`) {
		m[w] = true
	}
	return m
}()

// abbreviations maps a word to the short forms schemas use for it.
var abbreviations = map[string][]string{
	"customer": {"cust"}, "transaction": {"tx", "txn", "trans"}, "quantity": {"qty"},
	"number": {"num", "nbr", "no"}, "amount": {"amt"}, "date": {"dt"}, "description": {"desc", "descr"},
	"address": {"addr"}, "account": {"acct"}, "department": {"dept"}, "employee": {"emp"},
	"price": {"px"}, "percent": {"pct"}, "percentage": {"pct"}, "average": {"avg"}, "count": {"cnt"},
	"identifier": {"id"}, "category": {"cat"}, "reference": {"ref"}, "timestamp": {"ts"}, "time": {"ts"},
	"message": {"msg"}, "currency": {"ccy", "cur"}, "commission": {"comm"}, "daily": {"dp"},
	"information": {"info"}, "organization": {"org"}, "salesperson": {"sales"}, "total": {"tot"},
	"minimum": {"min"}, "maximum": {"max"}, "doctor": {"doc"}, "diagnosis": {"diag"},
	// Time words point at date and time columns.
	"day": {"date", "dt", "created"}, "week": {"date", "dt", "created"}, "month": {"date", "dt", "created"}, "year": {"date", "dt", "created"},
	"today": {"date", "dt"}, "yesterday": {"date", "dt"}, "recent": {"date", "dt"}, "ago": {"date", "dt"},
	"sign": {"join", "signup", "regist"}, "bought": {"buy"}, "sold": {"sale", "sell"},
}

type term struct {
	word  string   // stemmed question word
	forms []string // the word and its abbreviations, to search inside names
	idf   float64
}

type colInfo struct {
	name  string   // lower-cased, without separators
	parts []string // stemmed name parts
	words []string // stemmed comment words and enum labels
	enum  map[string]bool
}

type tableInfo struct {
	idx     int
	name    string
	parts   []string
	words   []string
	cols    []colInfo
	score   float64 // own relevance: question terms covered by the table
	rank    float64 // score plus a share of its schema's coverage
	colScr  []float64
	keyCols map[string]bool // primary key
	edges   []edge
}

type edge struct {
	to         int
	cols, refs []string // columns on this side and the other
}

type pruner struct {
	s      *Schema
	index  map[[2]string]int // (schema, name) → table index
	tables []tableInfo
	terms  []term
}

func (p *pruner) analyse() {
	s := p.s
	for i := range s.Tables {
		t := &s.Tables[i]
		ti := &p.tables[i]
		ti.idx = i
		ti.name = squash(t.Name)
		ti.parts = identParts(t.Name)
		ti.words = textWords(t.Comment)
		ti.keyCols = map[string]bool{}
		for _, k := range t.PrimaryKey {
			ti.keyCols[k] = true
		}
		ti.cols = make([]colInfo, len(t.Columns))
		for j := range t.Columns {
			c := &t.Columns[j]
			ci := colInfo{name: squash(c.Name), parts: identParts(c.Name), words: textWords(c.Comment)}
			if len(c.Enum) > 0 || len(c.Values) > 0 {
				ci.enum = map[string]bool{}
				for _, l := range append(c.Enum[:len(c.Enum):len(c.Enum)], c.Values...) {
					for _, w := range textWords(l) {
						ci.enum[w] = true
					}
				}
			}
			ti.cols[j] = ci
		}
	}
	p.buildEdges()
}

// squash lower-cases an identifier and drops everything but letters and digits.
func squash(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r > 127 {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// identParts splits an identifier at non-alphanumerics, lower→upper case changes and
// letter/digit changes, and stems each part: "sbCustCountry" → sb cust country.
func identParts(s string) []string {
	var parts []string
	var cur []rune
	flush := func() {
		if len(cur) > 0 {
			parts = append(parts, stem(strings.ToLower(string(cur))))
			cur = cur[:0]
		}
	}
	var prev rune
	for _, r := range s {
		isL, isU, isD := r >= 'a' && r <= 'z' || r > 127, r >= 'A' && r <= 'Z', r >= '0' && r <= '9'
		switch {
		case !isL && !isU && !isD:
			flush()
		case isU && prev >= 'a' && prev <= 'z':
			flush()
			cur = append(cur, r)
		case isD != (prev >= '0' && prev <= '9') && len(cur) > 0:
			flush()
			cur = append(cur, r)
		default:
			cur = append(cur, r)
		}
		prev = r
	}
	flush()
	return parts
}

// textWords splits prose (a comment, a question) into stemmed lower-case words, identifiers
// in it split as identifiers, stop words dropped.
func textWords(s string) []string {
	var out []string
	for _, f := range strings.FieldsFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r > 127)
	}) {
		for _, w := range identParts(f) {
			if len(w) < 2 || stopWords[w] || isNumber(w) {
				continue
			}
			out = append(out, w)
		}
		if lw := stem(strings.ToLower(f)); strings.ContainsAny(f, "_ABCDEFGHIJKLMNOPQRSTUVWXYZ") && !stopWords[lw] && len(lw) > 2 {
			out = append(out, squash(f)) // the whole identifier too: "sbCustId" → sbcustid
		}
	}
	return out
}

func isNumber(w string) bool {
	for _, r := range w {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// stem folds plural and a few verb endings: customers → customer, categories → category.
func stem(w string) string {
	switch {
	case len(w) > 4 && strings.HasSuffix(w, "ies"):
		return w[:len(w)-3] + "y"
	case len(w) > 4 && (strings.HasSuffix(w, "sses") || strings.HasSuffix(w, "xes") || strings.HasSuffix(w, "ches") || strings.HasSuffix(w, "shes")):
		return w[:len(w)-2]
	case len(w) > 3 && strings.HasSuffix(w, "s") && !strings.HasSuffix(w, "ss") && !strings.HasSuffix(w, "us") && !strings.HasSuffix(w, "is"):
		return w[:len(w)-1]
	case len(w) > 5 && strings.HasSuffix(w, "ed") && !strings.HasSuffix(w, "eed"):
		return w[:len(w)-2] // joined → join, signed → sign (created → creat on both sides)
	}
	return w
}

func (p *pruner) buildTerms(question string) {
	seen := map[string]bool{}
	for _, w := range textWords(question) {
		if seen[w] {
			continue
		}
		seen[w] = true
		t := term{word: w, forms: []string{w}}
		if ab, ok := abbreviations[w]; ok {
			t.forms = append(t.forms, ab...)
		}
		p.terms = append(p.terms, t)
	}
}

// matchName scores how well a term names an identifier (parts, squashed name).
func matchName(t *term, parts []string, squashed string) float64 {
	best := 0.0
	for _, part := range parts {
		switch {
		case part == t.word:
			return 1
		case len(t.word) >= 4 && len(part) > len(t.word) && len(part) <= len(t.word)+3 &&
			(strings.HasSuffix(part, t.word) || strings.HasPrefix(part, t.word) && !strings.HasPrefix(part[len(t.word):], "s")):
			best = math.Max(best, 0.95) // sbcustomer, customerid: the word with a short affix
		case len(part) >= 3 && strings.HasPrefix(t.word, part) && len(t.word) > len(part):
			best = math.Max(best, 0.6) // cust → customer, diag → diagnosis
		case len(t.word) >= 4 && strings.HasPrefix(part, t.word):
			best = math.Max(best, 0.7) // date → datetime
		}
	}
	if len(t.word) >= 4 && strings.Contains(squashed, t.word) {
		best = math.Max(best, 0.8) // country in sbcustcountry
	}
	for _, f := range t.forms[1:] {
		if len(f) >= 3 && strings.Contains(squashed, f) || slicesContains(parts, f) {
			best = math.Max(best, 0.6)
		}
	}
	if best == 0 && len(t.word) >= 6 && strings.Contains(squashed, t.word[:4]) {
		best = 0.4 // a common four-letter abbreviation: tick(er), sett(lement)
	}
	return best
}

func slicesContains(s []string, w string) bool {
	for _, x := range s {
		if x == w {
			return true
		}
	}
	return false
}

func (p *pruner) matchColumn(t *term, c *colInfo) float64 {
	best := matchName(t, c.parts, c.name)
	if best < 0.7 && c.enum[t.word] {
		best = 0.7
	}
	if best < 0.5 && slicesContains(c.words, t.word) {
		best = 0.5
	}
	return best
}

func (p *pruner) score() {
	// Match every term against every column once; idf from the column counts: a term that
	// matches everywhere (id, name) tells little.
	nt := len(p.terms)
	colMatch := make([][]float64, len(p.tables)) // per table: cols × terms
	df := make([]int, nt)
	n := 0
	for ti := range p.tables {
		tab := &p.tables[ti]
		m := make([]float64, len(tab.cols)*nt)
		for ci := range tab.cols {
			n++
			for k := range p.terms {
				v := p.matchColumn(&p.terms[k], &tab.cols[ci])
				m[ci*nt+k] = v
				if v > 0 {
					df[k]++
				}
			}
		}
		colMatch[ti] = m
	}
	for k := range p.terms {
		p.terms[k].idf = math.Log(1 + float64(n+1)/float64(df[k]+1))
	}
	termBest := make([][]float64, len(p.tables))
	for ti := range p.tables {
		tab := &p.tables[ti]
		termBest[ti] = make([]float64, nt)
		tab.colScr = make([]float64, len(tab.cols))
		total := 0.0
		for k := range p.terms {
			t := &p.terms[k]
			best := 1.2 * matchName(t, tab.parts, tab.name)
			if best < 0.5 && slicesContains(tab.words, t.word) {
				best = 0.5
			}
			for ci := range tab.cols {
				m := colMatch[ti][ci*nt+k]
				tab.colScr[ci] += m * t.idf
				best = math.Max(best, m)
			}
			total += best * t.idf
			termBest[ti][k] = best * t.idf
		}
		tab.score = total
	}
	// A question is usually about one schema: the schema that covers most of its terms lends
	// its tables part of that coverage (no effect when all tables share one schema).
	cov := map[string][]float64{}
	for ti := range p.tables {
		sch := p.s.Tables[ti].Schema
		c := cov[sch]
		if c == nil {
			c = make([]float64, len(p.terms))
			cov[sch] = c
		}
		for k, v := range termBest[ti] {
			c[k] = math.Max(c[k], v)
		}
	}
	for ti := range p.tables {
		sum := 0.0
		for _, v := range cov[p.s.Tables[ti].Schema] {
			sum += v
		}
		p.tables[ti].rank = p.tables[ti].score + schemaShare*sum
	}
}

// schemaShare is the part of its schema's coverage a table's rank gets.
const schemaShare = 0.5

// buildEdges links tables by declared foreign keys and, within one schema, by shared column
// names that end in "id" (other than a bare "id"), or a column named <table>_id / <table>id
// next to that table's id.
func (p *pruner) buildEdges() {
	p.index = make(map[[2]string]int, len(p.s.Tables))
	for i := range p.s.Tables {
		p.index[[2]string{p.s.Tables[i].Schema, p.s.Tables[i].Name}] = i
	}
	index := p.index
	add := func(a, b int, ac, bc []string) {
		p.tables[a].edges = append(p.tables[a].edges, edge{to: b, cols: ac, refs: bc})
		p.tables[b].edges = append(p.tables[b].edges, edge{to: a, cols: bc, refs: ac})
	}
	for i := range p.s.Tables {
		for _, fk := range p.s.Tables[i].ForeignKeys {
			if j, ok := index[[2]string{fk.RefSchema, fk.RefTable}]; ok && j != i {
				add(i, j, fk.Columns, fk.RefColumns)
			}
		}
	}
	// Implicit joins, per schema.
	bySchema := map[string][]int{}
	for i := range p.s.Tables {
		bySchema[p.s.Tables[i].Schema] = append(bySchema[p.s.Tables[i].Schema], i)
	}
	for _, idxs := range bySchema {
		owners := map[string][]int{}
		for _, i := range idxs {
			for _, c := range p.s.Tables[i].Columns {
				n := strings.ToLower(c.Name)
				if n != "id" && strings.HasSuffix(n, "id") && len(n) > 2 {
					owners[n] = append(owners[n], i)
				}
			}
		}
		for _, i := range idxs {
			ti := &p.s.Tables[i]
			if ti.Column("id") == nil {
				continue
			}
			single := strings.TrimSuffix(stem(strings.ToLower(ti.Name)), "_")
			for _, n := range []string{single + "_id", single + "id"} {
				for _, j := range owners[n] {
					if j != i {
						add(j, i, []string{colNameFold(&p.s.Tables[j], n)}, []string{"id"})
					}
				}
			}
		}
		for n, ts := range owners {
			if len(ts) < 2 || len(ts) > 6 {
				continue
			}
			for a := 0; a < len(ts); a++ {
				for b := a + 1; b < len(ts); b++ {
					ca, cb := colNameFold(&p.s.Tables[ts[a]], n), colNameFold(&p.s.Tables[ts[b]], n)
					add(ts[a], ts[b], []string{ca}, []string{cb})
				}
			}
		}
	}
}

func colNameFold(t *Table, lower string) string {
	for _, c := range t.Columns {
		if strings.ToLower(c.Name) == lower {
			return c.Name
		}
	}
	return lower
}

// selection is a table subset with, per table, the columns kept (unless full). Its token
// cost is kept per table block, so that trying one more table or column renders only that
// table (EstimateTokens is additive over Render's lines).
type selection struct {
	p     *pruner
	order []int // selected table indexes, in selection order
	cols  map[int]map[string]bool
	full  map[int]bool
	costs map[int]int // block cost per table; missing: recompute
}

func newSelection(p *pruner) *selection {
	return &selection{p: p, cols: map[int]map[string]bool{}, full: map[int]bool{}, costs: map[int]int{}}
}

func (sel *selection) has(i int) bool { _, ok := sel.cols[i]; return ok }

// addCol keeps column c of table i.
func (sel *selection) addCol(i int, c string) {
	if !sel.cols[i][c] {
		sel.cols[i][c] = true
		delete(sel.costs, i)
	}
}

func (sel *selection) setFull(i int) {
	sel.full[i] = true
	delete(sel.costs, i)
}

// table returns the kept part of table i.
func (sel *selection) table(i int) Table {
	src := &sel.p.s.Tables[i]
	t := *src
	if sel.full[i] {
		return t
	}
	keep := sel.cols[i]
	t.Columns = nil
	for _, c := range src.Columns {
		if keep[c.Name] {
			t.Columns = append(t.Columns, c)
		}
	}
	t.PrimaryKey = keepIfAll(src.PrimaryKey, keep)
	t.Uniques = nil
	for _, u := range src.Uniques {
		if k := keepIfAll(u, keep); k != nil {
			t.Uniques = append(t.Uniques, k)
		}
	}
	t.ForeignKeys = nil
	for _, fk := range src.ForeignKeys {
		if keepIfAll(fk.Columns, keep) != nil {
			t.ForeignKeys = append(t.ForeignKeys, fk)
		}
	}
	return t
}

func (sel *selection) schema() *Schema {
	idxs := append([]int(nil), sel.order...)
	sort.Ints(idxs)
	out := &Schema{Tables: make([]Table, 0, len(idxs))}
	for _, i := range idxs {
		out.Tables = append(out.Tables, sel.table(i))
	}
	return out
}

func keepIfAll(names []string, keep map[string]bool) []string {
	if len(names) == 0 {
		return nil
	}
	for _, n := range names {
		if !keep[n] {
			return nil
		}
	}
	return names
}

// cost is EstimateTokens(Render(sel.schema())), computed from cached block costs.
func (sel *selection) cost() int {
	if len(sel.order) == 0 {
		return 0
	}
	total := len(sel.order) - 1 // the blank lines between blocks
	for _, i := range sel.order {
		c, ok := sel.costs[i]
		if !ok {
			t := sel.table(i)
			c = EstimateTokens(renderTable(&t))
			sel.costs[i] = c
		}
		total += c
	}
	joins := 0
	for _, i := range sel.order {
		src := &sel.p.s.Tables[i]
		for _, fk := range src.ForeignKeys {
			j, ok := sel.p.index[[2]string{fk.RefSchema, fk.RefTable}]
			if !ok || !sel.has(j) || !sel.keeps(i, fk.Columns) || !sel.keeps(j, fk.RefColumns) {
				continue
			}
			ref := &sel.p.s.Tables[j]
			joins += EstimateTokens("-- " + colRef(src.RefName(), fk.Columns) + " can be joined with " + colRef(ref.RefName(), fk.RefColumns) + "\n")
		}
	}
	if joins > 0 {
		total += 1 + joins
	}
	return total
}

func (sel *selection) keeps(i int, cols []string) bool {
	if sel.full[i] {
		return true
	}
	for _, c := range cols {
		if !sel.cols[i][c] {
			return false
		}
	}
	return true
}

func (sel *selection) clone() *selection {
	c := &selection{p: sel.p, order: append([]int(nil), sel.order...), cols: make(map[int]map[string]bool, len(sel.cols)),
		full: make(map[int]bool, len(sel.full)), costs: make(map[int]int, len(sel.costs))}
	for k, v := range sel.cols {
		m := make(map[string]bool, len(v))
		for n := range v {
			m[n] = true
		}
		c.cols[k] = m
	}
	for k, v := range sel.full {
		c.full[k] = v
	}
	for k, v := range sel.costs {
		c.costs[k] = v
	}
	return c
}

// minimalCols are a table's keys, matching columns and columns joining it to the selection.
func (p *pruner) minimalCols(i int, sel *selection) map[string]bool {
	tab := &p.tables[i]
	keep := map[string]bool{}
	for k := range tab.keyCols {
		keep[k] = true
	}
	for ci, s := range tab.colScr {
		if s > 0 {
			keep[p.s.Tables[i].Columns[ci].Name] = true
		}
	}
	for _, e := range tab.edges {
		if sel.has(e.to) {
			for _, c := range e.cols {
				keep[c] = true
			}
		}
	}
	if len(keep) == 0 && len(p.s.Tables[i].Columns) > 0 {
		keep[p.s.Tables[i].Columns[0].Name] = true
	}
	return keep
}

// tryAdd adds table i with its minimal columns (and the join columns it needs on tables
// already selected) when that fits; otherwise with its keys and join columns plus as many of
// its matching columns, best first, as fit.
func (p *pruner) tryAdd(sel *selection, i, budget int) (*selection, bool) {
	next := sel.clone()
	next.order = append(next.order, i)
	minimal := p.minimalCols(i, sel)
	next.cols[i] = minimal
	for _, e := range p.tables[i].edges {
		if next.has(e.to) && e.to != i {
			for _, c := range e.refs {
				next.addCol(e.to, c)
			}
		}
	}
	if next.cost() <= budget {
		return next, true
	}
	// Keys and join columns only, then the matching columns that fit.
	keep := map[string]bool{}
	for k := range p.tables[i].keyCols {
		keep[k] = true
	}
	for _, e := range p.tables[i].edges {
		if sel.has(e.to) {
			for _, c := range e.cols {
				keep[c] = true
			}
		}
	}
	cols := p.columnsByScore(i)
	if len(keep) == 0 && len(cols) > 0 {
		keep[cols[0]] = true
	}
	next.cols[i] = keep
	delete(next.costs, i)
	if next.cost() > budget {
		return sel, false
	}
	for _, c := range cols {
		if !minimal[c] || keep[c] {
			continue
		}
		try := next.clone()
		try.addCol(i, c)
		if try.cost() <= budget {
			next = try
		}
	}
	return next, true
}

func (p *pruner) run(budget int) *Schema {
	ranked := make([]int, len(p.tables))
	for i := range ranked {
		ranked[i] = i
	}
	sort.SliceStable(ranked, func(a, b int) bool { return p.tables[ranked[a]].rank > p.tables[ranked[b]].rank })

	sel := newSelection(p)
	top := 0.0
	if len(ranked) > 0 {
		top = p.tables[ranked[0]].rank
	}
	// Pass 1: relevant tables (minimal form) with their connectors.
	if top > 0 {
		misses := 0
		for _, i := range ranked {
			if p.tables[i].rank < 0.35*top || budget-sel.cost() < minTableTokens || misses >= maxFillMisses {
				break
			}
			if sel.has(i) || p.tables[i].score == 0 {
				continue
			}
			path := p.connector(sel, i)
			cand := sel
			ok := true
			for _, j := range append(path, i) {
				if cand.has(j) {
					continue
				}
				if cand, ok = p.tryAdd(cand, j, budget); !ok {
					break
				}
			}
			if ok {
				sel = cand
				misses = 0
			} else {
				misses++
			}
		}
	}
	// Pass 2: complete the chosen tables in rank order.
	for _, i := range rankedSelected(ranked, sel) {
		next := sel.clone()
		next.setFull(i)
		if next.cost() <= budget {
			sel = next
			continue
		}
		// Add the table's columns one by one, best first, while they fit.
		cols := p.columnsByScore(i)
		for _, c := range cols {
			if sel.cols[i][c] {
				continue
			}
			next := sel.clone()
			next.addCol(i, c)
			if next.cost() <= budget {
				sel = next
			}
		}
	}
	// Pass 3: more tables while the budget lasts: neighbours of the chosen ones first, then
	// tables sharing a schema with the best one, then the rest, each in rank order.
	misses := 0
	for _, group := range p.fillOrder(ranked, sel) {
		for _, i := range group {
			if budget-sel.cost() < minTableTokens || misses >= maxFillMisses {
				break
			}
			if sel.has(i) {
				continue
			}
			next, ok := p.tryAdd(sel, i, budget)
			if !ok {
				misses++
				continue
			}
			misses = 0
			full := next.clone()
			full.setFull(i)
			if full.cost() <= budget {
				next = full
			}
			sel = next
		}
	}
	out := sel.schema()
	// The block costs add up to the rendering's estimate; should they ever not, drop the
	// last-chosen tables rather than exceed the budget.
	for EstimateTokens(Render(out)) > budget && len(sel.order) > 0 {
		last := sel.order[len(sel.order)-1]
		sel.order = sel.order[:len(sel.order)-1]
		delete(sel.cols, last)
		out = sel.schema()
	}
	return out
}

// maxFillMisses bounds the tables tried in a row that do not fit, so that filling the last
// tokens of a budget does not try every table of a large catalog.
const maxFillMisses = 25

// minTableTokens is less than any table block costs ("CREATE TABLE t (\n  a int\n);\n").
const minTableTokens = 10

func rankedSelected(ranked []int, sel *selection) []int {
	var out []int
	for _, i := range ranked {
		if sel.has(i) {
			out = append(out, i)
		}
	}
	return out
}

func (p *pruner) columnsByScore(i int) []string {
	idx := make([]int, len(p.tables[i].cols))
	for k := range idx {
		idx[k] = k
	}
	scr := p.tables[i].colScr
	sort.SliceStable(idx, func(a, b int) bool { return scr[idx[a]] > scr[idx[b]] })
	out := make([]string, len(idx))
	for k, ci := range idx {
		out[k] = p.s.Tables[i].Columns[ci].Name
	}
	return out
}

// connector returns the tables on a shortest join path (at most two hops between) from table i
// to the selection, empty when i is adjacent to it, the selection is empty, or no path exists.
func (p *pruner) connector(sel *selection, i int) []int {
	if len(sel.order) == 0 {
		return nil
	}
	prev := map[int]int{i: -1}
	frontier := []int{i}
	for depth := 0; depth < 3; depth++ {
		var next []int
		for _, a := range frontier {
			for _, e := range p.tables[a].edges {
				if _, seen := prev[e.to]; seen {
					continue
				}
				prev[e.to] = a
				if sel.has(e.to) {
					var path []int
					for x := a; x != i; x = prev[x] {
						path = append(path, x)
					}
					return path
				}
				next = append(next, e.to)
			}
		}
		frontier = next
	}
	return nil
}

func (p *pruner) fillOrder(ranked []int, sel *selection) [][]int {
	var neighbours, sameSchema, rest []int
	schemas := map[string]bool{}
	if len(sel.order) > 0 {
		schemas[p.s.Tables[sel.order[0]].Schema] = true
	}
	adj := map[int]bool{}
	for _, i := range sel.order {
		for _, e := range p.tables[i].edges {
			adj[e.to] = true
		}
	}
	for _, i := range ranked {
		switch {
		case sel.has(i):
		case adj[i]:
			neighbours = append(neighbours, i)
		case schemas[p.s.Tables[i].Schema]:
			sameSchema = append(sameSchema, i)
		default:
			rest = append(rest, i)
		}
	}
	return [][]int{neighbours, sameSchema, rest}
}
