// Package examples keeps pgask's verified question → SQL pairs: the table pgask.examples in the
// upstream database (InitSQL), read over the asking user's own session so that the database's
// privileges decide which pairs a user sees (Cache.Load), matched against a question (Set.Exact)
// and ranked as worked examples for a prompt (Set.Similar), and checked before a pair is added
// (Check, InsertSQL).
package examples

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"unicode"

	"github.com/pgask/pgask/introspect"
	"github.com/pgask/pgask/translate"
)

// InitSQL creates schema pgask and table pgask.examples when they are missing; it is
// idempotent. It is the file init.sql of this package (documented there).
//
//go:embed init.sql
var InitSQL string

// Table is the qualified name of the pairs' table.
const Table = "pgask.examples"

// availableSQL says, without any way to fail, whether the current role may read the pairs:
// schema pgask and a relation pgask.examples exist, the role has USAGE on the schema and
// SELECT on its columns question and sql. Reading the table itself when it is absent would
// fail, and inside a client's transaction block a failed statement aborts the block.
const availableSQL = `SELECT count(*) FROM pg_catalog.pg_class c
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'pgask' AND c.relname = 'examples' AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
  AND pg_catalog.has_schema_privilege(n.oid, 'USAGE')
  AND (SELECT count(*) FROM pg_catalog.pg_attribute a
       WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped AND a.attname IN ('question', 'sql')
         AND pg_catalog.has_column_privilege(c.oid, a.attnum, 'SELECT')) = 2`

// fingerprintSQL is the change detector of the rows the role sees: their number and a sum of
// 64-bit hashes of each pair.
const fingerprintSQL = `SELECT count(*), coalesce(sum(pg_catalog.hashtextextended(question::text || E'\n\x1f' || sql::text, 0)::numeric), 0) FROM pgask.examples`

// MaxRows is the most pairs read for one user; more are ignored (and the Set says so).
const MaxRows = 10000

const rowsSQL = `SELECT question::text, sql::text FROM pgask.examples WHERE question IS NOT NULL AND sql IS NOT NULL ORDER BY 1, 2 LIMIT 10001`

// Pair is one stored question with its SQL.
type Pair = translate.Example

// Set is the pairs one role may read, indexed for matching. A nil *Set has no pairs.
type Set struct {
	Pairs     []Pair
	Truncated bool // more than MaxRows pairs were stored

	exact map[string]int // normalised question → index of its first pair
	grams []map[string]struct{}
	words []map[string]struct{}
}

// NewSet indexes pairs.
func NewSet(pairs []Pair) *Set {
	s := &Set{Pairs: pairs, exact: map[string]int{}, grams: make([]map[string]struct{}, len(pairs)), words: make([]map[string]struct{}, len(pairs))}
	for i, p := range pairs {
		n := Normalize(p.Question)
		if _, ok := s.exact[n]; !ok {
			s.exact[n] = i
		}
		s.grams[i] = trigrams(n)
		s.words[i] = wordSet(n)
	}
	return s
}

// Len is the number of pairs.
func (s *Set) Len() int {
	if s == nil {
		return 0
	}
	return len(s.Pairs)
}

// Normalize is the form in which questions are compared for an exact match: lower case,
// every run of characters that are neither letters nor digits (white space, punctuation)
// one space, trimmed. "How many orders?" and "how  many orders" are the same question.
func Normalize(q string) string {
	var b strings.Builder
	space := false
	for _, r := range strings.ToLower(q) {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			if space && b.Len() > 0 {
				b.WriteByte(' ')
			}
			space = false
			b.WriteRune(r)
			continue
		}
		space = true
	}
	return b.String()
}

// Exact returns the stored pair whose question is question after Normalize (the first, in
// the order of question then SQL, when several are).
func (s *Set) Exact(question string) (Pair, bool) {
	if s == nil {
		return Pair{}, false
	}
	i, ok := s.exact[Normalize(question)]
	if !ok {
		return Pair{}, false
	}
	return s.Pairs[i], true
}

// Similar returns up to n pairs most similar to question, most similar first, whose texts
// together fit in budget tokens (introspect.EstimateTokens). Similarity is pg_trgm's
// (shared trigrams of the normalised questions over all trigrams) plus the share of the
// question's words (stop words aside, plurals folded) the pair's question holds; a pair
// holding less than half of them is never chosen: a pair about something else misleads a
// small model more than no example (SmolLM2 copied an unrelated pair's WHERE clause).
func (s *Set) Similar(question string, n, budget int) []Pair {
	if s == nil || n <= 0 || budget <= 0 {
		return nil
	}
	norm := Normalize(question)
	qg, qw := trigrams(norm), wordSet(norm)
	type scored struct {
		i     int
		score float64
	}
	var cand []scored
	for i := range s.Pairs {
		common := 0
		for w := range qw {
			if _, ok := s.words[i][w]; ok {
				common++
			}
		}
		if common == 0 || 2*common < len(qw) {
			continue
		}
		score := jaccard(qg, s.grams[i]) + float64(common)/float64(len(qw))
		cand = append(cand, scored{i, score})
	}
	sort.SliceStable(cand, func(a, b int) bool { return cand[a].score > cand[b].score })
	var out []Pair
	for _, c := range cand {
		if len(out) == n {
			break
		}
		p := s.Pairs[c.i]
		cost := pairCost(p)
		if cost > budget {
			continue
		}
		budget -= cost
		out = append(out, p)
	}
	return out
}

// pairCost is the tokens a pair takes in a prompt: its texts and the template's few words
// around them.
func pairCost(p Pair) int {
	return introspect.EstimateTokens(p.Question) + introspect.EstimateTokens(p.SQL) + 8
}

// stopWords carry no meaning for similarity.
var stopWords = map[string]bool{
	"a": true, "an": true, "the": true, "of": true, "in": true, "on": true, "for": true, "to": true, "and": true,
	"or": true, "is": true, "are": true, "was": true, "were": true, "by": true, "with": true, "what": true,
	"which": true, "who": true, "how": true, "me": true, "show": true, "list": true, "give": true, "from": true,
	"that": true, "each": true, "per": true, "do": true, "does": true, "s": true, "their": true, "its": true, "it": true,
	"there": true, "have": true, "has": true, "had": true, "be": true, "been": true, "this": true, "these": true,
	"those": true, "they": true, "them": true, "all": true, "every": true, "return": true, "find": true, "get": true,
}

func wordSet(norm string) map[string]struct{} {
	m := map[string]struct{}{}
	for _, w := range strings.Fields(norm) {
		if !stopWords[w] {
			m[stem(w)] = struct{}{}
		}
	}
	return m
}

// stem drops an English plural's s, so that "order" and "orders" share a word.
func stem(w string) string {
	if len(w) > 3 && strings.HasSuffix(w, "s") && !strings.HasSuffix(w, "ss") {
		return w[:len(w)-1]
	}
	return w
}

// trigrams are pg_trgm's: each word padded with two spaces before and one after.
func trigrams(norm string) map[string]struct{} {
	m := map[string]struct{}{}
	for _, w := range strings.Fields(norm) {
		r := []rune("  " + w + " ")
		for i := 0; i+3 <= len(r); i++ {
			m[string(r[i:i+3])] = struct{}{}
		}
	}
	return m
}

func jaccard(a, b map[string]struct{}) float64 {
	if len(a) == 0 || len(b) == 0 {
		return 0
	}
	common := 0
	for g := range a {
		if _, ok := b[g]; ok {
			common++
		}
	}
	return float64(common) / float64(len(a)+len(b)-common)
}

// Cache keeps, per key (server, database, user), the last Set read and the fingerprint of its
// rows, so that an unchanged table costs one small query per ASK. It is safe for concurrent
// use.
type Cache struct {
	mu      sync.Mutex
	entries map[string]cached
}

type cached struct {
	fp  string
	set *Set
}

// NewCache returns an empty Cache.
func NewCache() *Cache { return &Cache{entries: map[string]cached{}} }

// Load returns the pairs the session's current role may read, and a fingerprint of them ("" and
// a nil Set when the feature is off: no schema pgask, no table, or no SELECT on it). q runs
// statements on the session; inBlock says the session is inside a transaction block, where
// the reads run under a savepoint so that even an unexpected failure (a row-level security
// policy that raises, say) leaves the client's transaction as it was.
func (c *Cache) Load(ctx context.Context, q introspect.Querier, key string, inBlock bool) (*Set, string, error) {
	rows, err := q.QueryText(ctx, availableSQL)
	if err != nil {
		return nil, "", fmt.Errorf("look for %s: %w", Table, err)
	}
	if len(rows) != 1 || len(rows[0]) != 1 || string(rows[0][0]) != "1" {
		return nil, "", nil
	}
	rows, err = guarded(ctx, q, fingerprintSQL, inBlock)
	if err != nil {
		return nil, "", fmt.Errorf("read %s fingerprint: %w", Table, err)
	}
	if len(rows) != 1 || len(rows[0]) != 2 {
		return nil, "", fmt.Errorf("read %s fingerprint: %d rows", Table, len(rows))
	}
	fp := string(rows[0][0]) + "/" + string(rows[0][1])
	if string(rows[0][0]) == "0" {
		return nil, "", nil
	}
	c.mu.Lock()
	e, ok := c.entries[key]
	c.mu.Unlock()
	if ok && e.fp == fp {
		return e.set, fp, nil
	}
	rows, err = guarded(ctx, q, rowsSQL, inBlock)
	if err != nil {
		return nil, "", fmt.Errorf("read %s: %w", Table, err)
	}
	pairs := make([]Pair, 0, len(rows))
	for _, r := range rows {
		if len(r) != 2 || r[0] == nil || r[1] == nil {
			continue
		}
		pairs = append(pairs, Pair{Question: string(r[0]), SQL: strings.TrimSpace(strings.TrimRight(strings.TrimSpace(string(r[1])), ";"))})
	}
	truncated := len(pairs) > MaxRows
	if truncated {
		pairs = pairs[:MaxRows]
	}
	set := NewSet(pairs)
	set.Truncated = truncated
	c.mu.Lock()
	if len(c.entries) >= 1024 {
		clear(c.entries)
	}
	c.entries[key] = cached{fp: fp, set: set}
	c.mu.Unlock()
	return set, fp, nil
}

// guardSavepoint bounds pgask's reads of the pairs inside a client's transaction block.
const guardSavepoint = "pgask_examples"

// guarded runs one reading statement; inside a transaction block under a savepoint that is
// released after it, or rolled back to when it fails.
func guarded(ctx context.Context, q introspect.Querier, sql string, inBlock bool) ([][][]byte, error) {
	if !inBlock {
		return q.QueryText(ctx, sql)
	}
	rows, err := q.QueryText(ctx, "SAVEPOINT "+guardSavepoint+";\n"+sql+";\nRELEASE SAVEPOINT "+guardSavepoint)
	if err != nil {
		if _, rerr := q.QueryText(context.WithoutCancel(ctx), "ROLLBACK TO SAVEPOINT "+guardSavepoint+"; RELEASE SAVEPOINT "+guardSavepoint); rerr != nil {
			return nil, errors.Join(err, rerr)
		}
	}
	return rows, err
}

// RefusedError is a pair refused by Check before anything ran on the server: an empty
// question or SQL, SQL that PostgreSQL's parser rejects, or SQL that is not exactly one
// read-only SELECT.
type RefusedError struct {
	Syntax bool // an empty text, or SQL the parser rejected (else: not a single read-only SELECT)
	Reason string
}

func (e *RefusedError) Error() string { return e.Reason }

// Clean trims a pair's texts: white space around both, trailing ';' of the SQL.
func Clean(question, sql string) (string, string) {
	sql = strings.TrimSpace(sql)
	for strings.HasSuffix(sql, ";") {
		sql = strings.TrimSpace(strings.TrimSuffix(sql, ";"))
	}
	return strings.TrimSpace(question), sql
}

// Check checks a pair before it is stored, with the checks generated SQL gets: the SQL must
// be exactly one read-only SELECT (translate.CheckStatic: no data-modifying CTE, no locking
// clause, no denied function) and pass checker's EXPLAIN, which runs as the teaching user,
// read-only. It returns the cleaned texts (Clean). A refusal before the server was asked is
// a *RefusedError; a failed EXPLAIN is the server's error.
func Check(ctx context.Context, checker translate.Checker, question, sql string) (string, string, error) {
	question, sql = Clean(question, sql)
	if question == "" {
		return "", "", &RefusedError{Syntax: true, Reason: "the question is empty"}
	}
	if sql == "" {
		return "", "", &RefusedError{Syntax: true, Reason: "the SQL is empty"}
	}
	if err := translate.CheckStatic(sql, nil); err != nil {
		syntax := strings.HasPrefix(err.Error(), "syntax error")
		return "", "", &RefusedError{Syntax: syntax, Reason: err.Error()}
	}
	if checker != nil {
		if err := checker.Explain(ctx, sql); err != nil {
			return "", "", err
		}
	}
	return question, sql, nil
}

// InsertSQL is the statement that stores a checked pair, as the current user.
func InsertSQL(question, sql string) string {
	return "INSERT INTO " + Table + " (question, sql) VALUES (" + introspect.QuoteLiteral(question) + ", " + introspect.QuoteLiteral(sql) + ")"
}

// ReadOnlyExplainer is a translate.Checker over a connection that is not inside a
// transaction block (pgask examples import): EXPLAIN in a BEGIN READ ONLY … ROLLBACK of its
// own, as ASK checks generated SQL.
type ReadOnlyExplainer struct{ Q introspect.Querier }

// Explain runs EXPLAIN of sql read-only and rolls back.
func (e ReadOnlyExplainer) Explain(ctx context.Context, sql string) error {
	if _, err := e.Q.QueryText(ctx, "BEGIN READ ONLY"); err != nil {
		return err
	}
	_, err := e.Q.QueryText(ctx, "EXPLAIN "+sql+"\n")
	if _, rerr := e.Q.QueryText(context.WithoutCancel(ctx), "ROLLBACK"); rerr != nil {
		return errors.Join(err, rerr)
	}
	return err
}
