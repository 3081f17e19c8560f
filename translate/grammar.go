package translate

import (
	"fmt"
	"sort"
	"strings"

	"github.com/pgask/pgask/introspect"
)

// SchemaGrammar returns a GBNF grammar (llama.cpp's format) for a practical subset of
// PostgreSQL's SELECT in which table and column names can only be those of s: CTEs, joins,
// subqueries, aggregates (with DISTINCT, FILTER, ORDER BY), window functions, CASE, casts,
// EXTRACT, date and interval literals and arithmetic, LIKE/ILIKE, IN, BETWEEN, IS [NOT] NULL,
// set operations, ORDER BY … NULLS FIRST/LAST, LIMIT and OFFSET. The statement ends with `;`.
//
// Names are checked as far as a context-free grammar can: outside a WITH query every column
// reference is a column of some table in s; a qualified one is either a table of s and one of its
// own columns, or a table alias and any column. A table alias is short (at most aliasMaxLen
// characters, the length of every alias in sql-eval's gold queries) and not a keyword, so that a
// qualifier cannot be an invented name (a small model writes `sbscriptid.sbcustid`) and a keyword
// cannot be taken for an alias (`FROM categories WHERE …` read as the alias WHERE). FROM names
// only tables of s, and ORDER BY/GROUP BY may also name an output alias. A query without FROM
// references no column (a small model that never reaches FROM otherwise lists columns that
// cannot run), and a select list has at most maxSelectItems items. A query that starts with
// WITH may also reference its CTEs and their columns, so inside it any identifier is accepted.
// Keywords and function names are accepted in upper or lower case. The grammar gives syntax,
// not meaning: the EXPLAIN check stays necessary.
//
// The grammar follows llama.cpp's parser rules: one rule per line, no left recursion, no
// unary minus, NULLIF with exactly two arguments.
func SchemaGrammar(s *introspect.Schema) string {
	g := newGrammarBuilder()
	g.schemaNames(s)
	g.rule("root", `ws (query | with-query) ws ";"`)
	g.rule("query", "select-set")
	g.rule("with-query", fmt.Sprintf(`%s sp (%s sp)? cte (ws "," ws cte)* ws select-set-w`, g.kw("with"), g.kw("recursive")))
	g.rule("cte", fmt.Sprintf(`ident (ws "(" ws ident-list ws ")")? sp %s sp ((%s sp)? %s sp)? "(" ws select-set-w ws ")"`,
		g.kw("as"), g.kw("not"), g.kw("materialized")))
	g.selectRules("", scopeGeneral)
	g.selectRules("-n", scopeNoFrom)
	g.selectRules("-w", scopeLoose)
	g.commonRules()
	return g.String()
}

// NarrowGrammar returns a small GBNF grammar: `SELECT <columns> FROM <table> [WHERE <column>
// <op> <number>] [LIMIT <number>];` where the columns (one to three, or *, or count(*)) belong
// to the table. A random-weight test model finishes a statement under it every time, which a
// broad grammar cannot promise; it is meant for end-to-end tests.
func NarrowGrammar(s *introspect.Schema) string {
	g := newGrammarBuilder()
	var alts []string
	for i, t := range s.Tables {
		if len(t.Columns) == 0 {
			continue
		}
		n := fmt.Sprintf("t%d", i)
		var cols []string
		for _, c := range t.Columns {
			cols = append(cols, introspect.QuoteIdent(c.Name))
		}
		g.rule(n+"-col", trie(cols))
		g.rule(n, fmt.Sprintf(`(%[1]s-col (", " %[1]s-col (", " %[1]s-col)?)? | "*" | "count(*)") " FROM " %[2]s (" WHERE " %[1]s-col " " ("=" | "<" | ">") " " num)?`,
			n, lit(t.RefName())))
		alts = append(alts, n)
	}
	if len(alts) == 0 {
		alts = append(alts, `"1"`)
	}
	g.rule("root", `"SELECT " (`+strings.Join(alts, " | ")+`) (" LIMIT " num)? ";"`)
	g.rule("num", `[1-9] [0-9]? [0-9]?`)
	return g.String()
}

type grammarBuilder struct {
	names map[string]bool
	order []string
	rules map[string]string
}

func newGrammarBuilder() *grammarBuilder {
	return &grammarBuilder{names: map[string]bool{}, rules: map[string]string{}}
}

func (g *grammarBuilder) rule(name, body string) {
	if !g.names[name] {
		g.names[name] = true
		g.order = append(g.order, name)
	}
	g.rules[name] = body
}

func (g *grammarBuilder) String() string {
	var b strings.Builder
	for _, n := range g.order {
		fmt.Fprintf(&b, "%s ::= %s\n", n, g.rules[n])
	}
	return b.String()
}

// kw returns the rule name for a keyword accepted in upper or lower case, defining it.
func (g *grammarBuilder) kw(word string) string {
	name := "kw-" + strings.ToLower(strings.ReplaceAll(word, "_", "-"))
	if !g.names[name] {
		g.rule(name, lit(strings.ToUpper(word))+" | "+lit(strings.ToLower(word)))
	}
	return name
}

// words returns an alternation of words in upper and lower case, as a trie.
func words(ws ...string) string {
	var all []string
	for _, w := range ws {
		all = append(all, strings.ToUpper(w), strings.ToLower(w))
	}
	return trie(all)
}

// trie returns a GBNF expression matching exactly the given strings, factored by common
// prefixes ("count" | "coalesce" becomes "co" ("unt" | "alesce")). llama.cpp keeps one stack
// per live alternative, so a flat list of n names costs n stacks where one may start and the
// trie costs one per distinct first character.
func trie(ss []string) string {
	rs := make([][]rune, 0, len(ss))
	seen := map[string]bool{}
	for _, s := range ss {
		if s != "" && !seen[s] {
			seen[s] = true
			rs = append(rs, []rune(s))
		}
	}
	sort.Slice(rs, func(i, j int) bool { return string(rs[i]) < string(rs[j]) })
	return trieNode(rs)
}

// trieTo is trie for strings each followed by its own expression: trieTo({"a.": "x", "ab.": "y"})
// matches "a." x | "ab." y, factored by common prefixes.
func trieTo(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	rs := make([][]rune, len(keys))
	for i, k := range keys {
		// A marker rune after each string carries its continuation through trieNode.
		rs[i] = append([]rune(k), rune(0xE000+i))
	}
	e := trieNode(rs)
	for i, k := range keys {
		mark := string(rune(0xE000 + i))
		e = strings.ReplaceAll(e, `"`+mark+`"`, "("+m[k]+")")
		e = strings.ReplaceAll(e, mark+`"`, `" (`+m[k]+")")
	}
	return e
}

// trieNode expects non-empty, sorted, distinct strings.
func trieNode(rs [][]rune) string {
	var alts []string
	for i := 0; i < len(rs); {
		j := i + 1
		for j < len(rs) && rs[j][0] == rs[i][0] {
			j++
		}
		group := rs[i:j]
		prefix := group[0]
		for _, r := range group[1:] {
			n := 0
			for n < len(prefix) && n < len(r) && prefix[n] == r[n] {
				n++
			}
			prefix = prefix[:n]
		}
		var rest [][]rune
		optional := false
		for _, r := range group {
			if len(r) == len(prefix) {
				optional = true
			} else {
				rest = append(rest, r[len(prefix):])
			}
		}
		alt := lit(string(prefix))
		switch {
		case len(rest) == 0:
		case optional:
			alt += " (" + trieNode(rest) + ")?"
		default:
			alt += " (" + trieNode(rest) + ")"
		}
		alts = append(alts, alt)
		i = j
	}
	return strings.Join(alts, " | ")
}

// schemaNames defines tbl (table references) and col (column names).
func (g *grammarBuilder) schemaNames(s *introspect.Schema) {
	var tbls, cols []string
	for _, t := range s.Tables {
		// Spelled as the prompt's DDL spells them (introspect.Render): the name the session
		// resolves, and the qualified name, which always works.
		tbls = append(tbls, t.QualifiedName())
		if ref := t.RefName(); ref != t.QualifiedName() {
			tbls = append(tbls, ref)
		}
		for _, c := range t.Columns {
			cols = append(cols, introspect.QuoteIdent(c.Name))
		}
	}
	if len(tbls) == 0 {
		tbls = []string{"pg_catalog.pg_class"}
	}
	if len(cols) == 0 {
		cols = []string{"oid"}
	}
	g.rule("tbl", trie(tbls))
	g.rule("col", trie(cols))

	// Qualified column references: a table's own name and one of its columns, or an alias and
	// any column. tcolN names table N's columns.
	quals := map[string]string{}
	for i, t := range s.Tables {
		if len(t.Columns) == 0 {
			continue
		}
		var tc []string
		for _, c := range t.Columns {
			tc = append(tc, introspect.QuoteIdent(c.Name))
		}
		n := fmt.Sprintf("tcol%d", i)
		g.rule(n, trie(tc))
		quals[t.QualifiedName()+"."] = n
		quals[t.RefName()+"."] = n
	}
	g.rule("talias", shortIdent(aliasMaxLen, aliasKeywords))
	if len(quals) == 0 {
		g.rule("qcol", `talias "." col`)
	} else {
		g.rule("qcol", trieTo(quals)+` | talias "." col`)
	}
	g.rule("qual", "tbl | talias")
}

// aliasMaxLen is the longest table alias the schema grammar accepts.
const aliasMaxLen = 3

// aliasKeywords are the words of at most aliasMaxLen letters that may follow a table in FROM or
// start a clause, and so are never table aliases.
var aliasKeywords = []string{"as", "at", "by", "do", "if", "in", "is", "of", "on", "or", "to",
	"all", "and", "any", "asc", "end", "for", "not", "off", "row", "set"}

// shortIdent returns a GBNF expression for an unquoted identifier of 1 to maxLen characters
// (a letter or _, then letters, digits or _), in any case, that is none of the given lower-case
// words in any case.
func shortIdent(maxLen int, forbidden []string) string {
	bad := map[string]bool{}
	prefix := map[string]bool{}
	for _, w := range forbidden {
		bad[w] = true
		for i := 1; i <= len(w); i++ {
			prefix[w[:i]] = true
		}
	}
	const first = "abcdefghijklmnopqrstuvwxyz_"
	const rest = first + "0123456789"
	// free returns an expression for 0..k characters of rest.
	free := func(k int) string {
		e := ""
		for ; k > 0; k-- {
			e = "(" + charClass(rest) + " " + e + ")?"
			if e == "("+charClass(rest)+" )?" {
				e = charClass(rest) + "?"
			}
		}
		return e
	}
	// node returns an expression for what may follow p, where p is a prefix of a forbidden word,
	// and false when nothing may (p is forbidden and no longer word is allowed).
	var node func(p string) (string, bool)
	node = func(p string) (string, bool) {
		chars := rest
		if p == "" {
			chars = first
		}
		var alts []string
		other := ""
		if len(p) < maxLen {
			for _, c := range chars {
				q := p + string(c)
				if !prefix[q] {
					other += string(c)
				} else if e, ok := node(q); ok {
					alts = append(alts, strings.TrimSpace(charClass(string(c))+" "+e))
				}
			}
			if other != "" {
				alts = append(alts, strings.TrimSpace(charClass(other)+" "+free(maxLen-len(p)-1)))
			}
		}
		canEnd := p != "" && !bad[p]
		switch {
		case len(alts) == 0:
			return "", canEnd
		case canEnd:
			return "(" + strings.Join(alts, " | ") + ")?", true
		default:
			return "(" + strings.Join(alts, " | ") + ")", true
		}
	}
	e, _ := node("")
	return e
}

// charClass returns a GBNF character class of the given lower-case letters (in both cases),
// digits and _, with runs of three or more written as ranges.
func charClass(chars string) string {
	var rs []rune
	for _, c := range chars {
		rs = append(rs, c)
		if c >= 'a' && c <= 'z' {
			rs = append(rs, c-'a'+'A')
		}
	}
	sort.Slice(rs, func(i, j int) bool { return rs[i] < rs[j] })
	var b strings.Builder
	b.WriteByte('[')
	for i := 0; i < len(rs); {
		j := i
		for j+1 < len(rs) && rs[j+1] == rs[j]+1 {
			j++
		}
		if j-i >= 2 {
			fmt.Fprintf(&b, "%c-%c", rs[i], rs[j])
		} else {
			for k := i; k <= j; k++ {
				b.WriteRune(rs[k])
			}
		}
		i = j + 1
	}
	b.WriteByte(']')
	return b.String()
}

// Scopes of the query rules.
const (
	scopeGeneral = iota // outside WITH: a query that reads columns names FROM, and its columns are the schema's
	scopeNoFrom         // SELECT without FROM: no column references (subqueries are general)
	scopeLoose          // inside WITH: any identifier names a table or a column
)

// maxSelectItems bounds a select list. Every sql-eval gold query has at most 6 items; a small
// model that lists columns without end is made to go on to FROM.
const maxSelectItems = 16

// selectRules defines the query rules with the given suffix, in a scope (see the constants).
// In the rule bodies @ stands for the scope's suffix and $ for its subqueries'.
func (g *grammarBuilder) selectRules(sfx string, scope int) {
	sub := sfx
	if scope == scopeNoFrom {
		sub = ""
	}
	r := func(name, body string) {
		g.rule(name+sfx, strings.ReplaceAll(strings.ReplaceAll(body, "@", sfx), "$", sub))
	}
	kw := g.kw
	loose := scope == scopeLoose
	g.rule("set-op", fmt.Sprintf(`(%s | %s | %s) (sp %s)?`, kw("union"), kw("intersect"), kw("except"), kw("all")))
	g.rule("limit-val", fmt.Sprintf(`[0-9]+ | %s`, kw("all")))
	core := "select-core@"
	if scope == scopeGeneral {
		core = "(select-core | select-core-n)"
	}
	if scope != scopeNoFrom {
		r("select-set", fmt.Sprintf(`%[1]s (sp set-op sp %[1]s)* (sp order-by@)? (sp %[2]s sp limit-val)? (sp %[3]s sp limit-val (sp (%[4]s | %[5]s))?)?`,
			core, kw("limit"), kw("offset"), kw("rows"), kw("row")))
	}
	switch scope {
	case scopeNoFrom:
		r("select-core", fmt.Sprintf(`%s sp (%s sp)? select-list@`, kw("select"), kw("distinct")))
	default:
		from := fmt.Sprintf(`sp %s sp from-list@`, kw("from"))
		if loose {
			from = "(" + from + ")?"
		}
		r("select-core", fmt.Sprintf(`%s sp (distinct-on@ sp)? select-list@ %s (sp %s sp expr@)? (sp %s sp %s sp group-list@)? (sp %s sp expr@)?`,
			kw("select"), from, kw("where"), kw("group"), kw("by"), kw("having")))
	}
	r("distinct-on", fmt.Sprintf(`%s (ws %s ws "(" ws expr-list@ ws ")")?`, kw("distinct"), kw("on")))
	list := "select-item@"
	for i := 1; i < maxSelectItems; i++ {
		list = `select-item@ (ws "," ws ` + list + `)?`
	}
	r("select-list", list)
	qual, talias := "qual", "talias"
	if loose {
		qual, talias = "ident", "alias"
	}
	if scope == scopeNoFrom {
		r("select-item", fmt.Sprintf(`expr@ (sp (%s sp)? alias)?`, kw("as")))
	} else {
		r("select-item", fmt.Sprintf(`"*" | %s "." "*" | expr@ (sp (%s sp)? alias)?`, qual, kw("as")))
	}
	if scope != scopeNoFrom {
		r("from-list", `from-item@ (ws "," ws from-item@ | sp join@)*`)
		r("join", fmt.Sprintf(`(join-type sp)? %s sp from-item@ (sp %s sp expr@ | sp %s ws "(" ws ident-list ws ")")?`,
			kw("join"), kw("on"), kw("using")))
		g.rule("join-type", fmt.Sprintf(`%s | (%s | %s | %s) (sp %s)? | %s | %s`,
			kw("inner"), kw("left"), kw("right"), kw("full"), kw("outer"), kw("cross"), kw("natural")))
		tableRef := "tbl"
		if loose {
			tableRef = "tbl | ident"
		}
		r("from-item", fmt.Sprintf(`(%s) (sp (%s sp)? %s)? | (%s sp)? "(" ws select-set@ ws ")" (sp (%s sp)? %s (ws "(" ws ident-list ws ")")?)? | func-call@ (sp (%s sp)? %s)?`,
			tableRef, kw("as"), talias, kw("lateral"), kw("as"), talias, kw("as"), talias))
	}
	r("group-list", `group-item@ (ws "," ws group-item@)*`)
	r("group-item", `expr@ | ident | [0-9]+`)
	r("order-by", fmt.Sprintf(`%s sp %s sp order-item@ (ws "," ws order-item@)*`, kw("order"), kw("by")))
	r("order-item", fmt.Sprintf(`(expr@ | ident | [0-9]+) (sp (%s | %s))? (sp %s sp (%s | %s))?`,
		kw("asc"), kw("desc"), kw("nulls"), kw("first"), kw("last")))

	// Expressions, by precedence, each level `term (op term)*`.
	r("expr-list", `expr@ (ws "," ws expr@)*`)
	r("expr", fmt.Sprintf(`and-expr@ (sp %s sp and-expr@)*`, kw("or")))
	r("and-expr", fmt.Sprintf(`not-expr@ (sp %s sp not-expr@)*`, kw("and")))
	r("not-expr", fmt.Sprintf(`(%s sp)? pred@`, kw("not")))
	r("pred", `sum-expr@ (pred-tail@)?`)
	r("pred-tail", strings.Join([]string{
		`ws cmp-op ws sum-expr@`,
		`ws cmp-op ws (` + kw("any") + ` | ` + kw("all") + `) ws "(" ws select-set$ ws ")"`,
		fmt.Sprintf(`sp %s sp (%s sp)? (%s | %s | %s | %s sp %s sp sum-expr@)`, kw("is"), kw("not"), kw("null"), kw("true"), kw("false"), kw("distinct"), kw("from")),
		fmt.Sprintf(`sp (%s sp)? %s sp (%s sp)? sum-expr@ sp %s sp sum-expr@`, kw("not"), kw("between"), kw("symmetric"), kw("and")),
		fmt.Sprintf(`sp (%s sp)? (%s | %s) sp sum-expr@`, kw("not"), kw("like"), kw("ilike")),
		fmt.Sprintf(`sp (%s sp)? %s ws "(" ws (select-set$ | expr-list@) ws ")"`, kw("not"), kw("in")),
	}, " | "))
	g.rule("cmp-op", `"=" | "<>" | "!=" | "<=" | ">=" | "<" | ">" | "~" | "~*" | "!~" | "!~*"`)
	r("sum-expr", `prod-expr@ (ws add-op ws prod-expr@)*`)
	g.rule("add-op", `"+" | "-" | "||"`)
	r("prod-expr", `unary@ (ws mul-op ws unary@)*`)
	g.rule("mul-op", `"*" | "/" | "%"`)
	r("unary", fmt.Sprintf(`primary@ ("::" type-name)* (sp %s sp %s sp %s sp primary@)?`, kw("at"), kw("time"), kw("zone")))
	colRef := `qcol | col`
	switch scope {
	case scopeLoose:
		colRef = `(ident ".")? (col | ident)`
	case scopeNoFrom:
		colRef = ""
	}
	primary := []string{
		"literal",
		"func-call@",
		"case-expr@",
		fmt.Sprintf(`%s ws "(" ws expr@ sp %s sp type-name ws ")"`, kw("cast"), kw("as")),
		fmt.Sprintf(`%s ws "(" ws extract-field sp %s sp expr@ ws ")"`, kw("extract"), kw("from")),
		fmt.Sprintf(`%s ws "(" ws expr@ ws "," ws expr@ ws ")"`, kw("nullif")),
		fmt.Sprintf(`%s ws "(" ws select-set$ ws ")"`, kw("exists")),
		`"(" ws select-set$ ws ")"`,
		`"(" ws expr@ ws ")"`,
	}
	if colRef != "" {
		primary = append(primary, colRef)
	}
	r("primary", strings.Join(primary, " | "))
	r("case-expr", fmt.Sprintf(`%s (sp expr@)? (sp %s sp expr@ sp %s sp expr@)+ (sp %s sp expr@)? sp %s`,
		kw("case"), kw("when"), kw("then"), kw("else"), kw("end")))
	r("func-call", strings.Join([]string{
		fmt.Sprintf(`%s ws "(" ws "*" ws ")" (filter@)? (over@)?`, kw("count")),
		fmt.Sprintf(`agg-name ws "(" ws (%s sp)? expr-list@ (sp order-by@)? ws ")" (filter@)? (over@)?`, kw("distinct")),
		`win-name ws "(" ws (expr-list@)? ws ")" over@`,
		`fn-name ws "(" ws (expr-list@)? ws ")"`,
	}, " | "))
	r("filter", fmt.Sprintf(`ws %s ws "(" ws %s sp expr@ ws ")"`, kw("filter"), kw("where")))
	r("over", fmt.Sprintf(`sp %s ws "(" ws (%s sp %s sp expr-list@)? (ws order-by@)? (ws frame)? ws ")"`,
		kw("over"), kw("partition"), kw("by")))
}

func (g *grammarBuilder) commonRules() {
	kw := g.kw
	g.rule("frame", fmt.Sprintf(`(%s | %s) sp (%s sp frame-bound sp %s sp frame-bound | frame-bound)`,
		kw("rows"), kw("range"), kw("between"), kw("and")))
	g.rule("frame-bound", fmt.Sprintf(`%s sp (%s | %s) | %s sp %s | [0-9]+ sp (%s | %s)`,
		kw("unbounded"), kw("preceding"), kw("following"), kw("current"), kw("row"), kw("preceding"), kw("following")))
	g.rule("literal", strings.Join([]string{
		"num", "string",
		fmt.Sprintf(`(%s | %s | %s) ws string`, kw("interval"), kw("date"), kw("timestamp")),
		kw("true"), kw("false"), kw("null"),
		kw("current_date"), kw("current_timestamp"), kw("localtimestamp"),
	}, " | "))
	g.rule("num", `[0-9]+ ("." [0-9]+)? ([eE] [0-9]+)?`)
	g.rule("string", `"'" ([^'] | "''")* "'"`)
	g.rule("extract-field", words("year", "quarter", "month", "week", "day", "hour", "minute", "second",
		"epoch", "dow", "isodow", "doy", "milliseconds", "microseconds", "century", "decade", "isoyear"))
	g.rule("type-name", fmt.Sprintf(`(%s | %s sp %s | (%s | %s) (ws "(" ws [0-9]+ (ws "," ws [0-9]+)? ws ")")?) ("[]")?`,
		words("integer", "int", "bigint", "smallint", "float", "real", "text", "date",
			"timestamptz", "time", "interval", "boolean", "bool", "money", "json", "jsonb", "uuid", "int4", "int8",
			"float8", "float4"),
		kw("double"), kw("precision"),
		words("numeric", "decimal", "varchar", "char", "character varying", "character"),
		kw("timestamp")))
	g.rule("agg-name", words(aggregateFunctions...))
	g.rule("win-name", words(windowFunctions...))
	g.rule("fn-name", words(scalarFunctions...))
	g.rule("ident-list", `ident (ws "," ws ident)*`)
	g.rule("alias", "ident")
	g.rule("ident", `[a-zA-Z_] [a-zA-Z0-9_]* | "\"" [^"]+ "\""`)
	g.rule("sp", `[ \t\n] ws`)
	// Bounded white space: an unbounded [ \t\n]* lets a model emit blanks forever.
	g.rule("ws", `([ \t\n] ([ \t\n] ([ \t\n] ([ \t\n] ([ \t\n] ([ \t\n] ([ \t\n] ([ \t\n])?)?)?)?)?)?)?)?`)
}

var aggregateFunctions = []string{"sum", "avg", "min", "max", "count", "string_agg", "array_agg",
	"bool_and", "bool_or", "every", "stddev", "stddev_pop", "stddev_samp", "variance", "var_pop", "var_samp",
	"percentile_cont", "percentile_disc", "mode", "corr", "covar_pop", "covar_samp", "regr_slope", "json_agg",
	"jsonb_agg"}

var windowFunctions = []string{"row_number", "rank", "dense_rank", "percent_rank", "cume_dist", "ntile",
	"lag", "lead", "first_value", "last_value", "nth_value"}

var scalarFunctions = []string{"coalesce", "greatest", "least", "abs", "round", "ceil", "ceiling", "floor",
	"trunc", "sqrt", "power", "exp", "ln", "log", "mod", "sign", "random", "lower", "upper", "length",
	"char_length", "substring", "substr", "trim", "ltrim", "rtrim", "btrim", "replace", "concat", "concat_ws",
	"left", "right", "position", "strpos", "split_part", "lpad", "rpad", "initcap", "reverse", "repeat",
	"regexp_replace", "regexp_match", "to_char", "to_date", "to_timestamp", "to_number", "date_trunc",
	"date_part", "age", "now", "make_date", "make_interval", "justify_interval", "generate_series",
	"array_length", "unnest", "cardinality", "md5", "format", "width_bucket", "date", "timezone"}

// lit returns s as a GBNF string literal.
func lit(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"', '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case '\n':
			b.WriteString(`\n`)
		case '\t':
			b.WriteString(`\t`)
		case '\r':
			b.WriteString(`\r`)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}
