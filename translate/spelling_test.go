package translate

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	pg_query "github.com/pganalyze/pg_query_go/v6"

	"github.com/pgask/pgask/introspect"
)

// spellingPool holds names that are hard to spell: key words of every category (col_name key
// words such as time, position and values among them), mixed case, white space, quotes, a
// leading digit, non-ASCII letters, and plain names.
var spellingPool = []string{
	"time", "position", "values", "user", "order", "select", "type", "name", "text", "from",
	"between", "overlaps", "left", "year", "interval", "char", "national", "limit", "table",
	"CamelCase", "Total Amount", `say "hi"`, "1st", "café", "ORDERS", "a$b", "_x", "x_1",
	"customers", "orders", "status", "created_at", "id",
}

// randomSchema makes a schema of 1–4 tables in public (visible), sales (visible, as with
// search_path=sales,public) and archive (not on the search_path), with names from the pool.
func randomSchema(r *rand.Rand) *introspect.Schema {
	s := &introspect.Schema{}
	used := map[string]bool{}
	for range 1 + r.IntN(4) {
		ns := []string{"public", "sales", "archive", `Weird "NS"`}[r.IntN(4)]
		name := spellingPool[r.IntN(len(spellingPool))]
		if used[ns+"."+name] {
			continue
		}
		used[ns+"."+name] = true
		// As pg_table_is_visible: only the first table of a name on the search_path is visible.
		t := introspect.Table{Schema: ns, Name: name, Kind: introspect.KindTable, Visible: (ns == "public" || ns == "sales") && !used["visible."+name]}
		if t.Visible {
			used["visible."+name] = true
		}
		cols := map[string]bool{}
		for range 1 + r.IntN(5) {
			c := spellingPool[r.IntN(len(spellingPool))]
			if !cols[c] {
				cols[c] = true
				t.Columns = append(t.Columns, introspect.Column{Name: c, Type: "integer"})
			}
		}
		s.Tables = append(s.Tables, t)
	}
	return s
}

// ddlSpellings reads back, from the DDL introspect.Render printed, how it spells each table
// (after CREATE TABLE) and each of its columns (the first identifier of a column line).
func ddlSpellings(t *testing.T, ddl string) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	var cur string
	for _, line := range strings.Split(ddl, "\n") {
		if rest, ok := strings.CutPrefix(line, "CREATE TABLE "); ok {
			cur = strings.TrimSuffix(rest, " (")
			out[cur] = nil
			continue
		}
		if cur == "" || !strings.HasPrefix(line, "  ") {
			continue
		}
		item := strings.TrimPrefix(line, "  ")
		var ident string
		if strings.HasPrefix(item, `"`) {
			i := 1
			for i < len(item) {
				if item[i] == '"' {
					if i+1 < len(item) && item[i+1] == '"' {
						i += 2
						continue
					}
					break
				}
				i++
			}
			ident = item[:i+1]
		} else {
			ident, _, _ = strings.Cut(item, " ")
		}
		out[cur] = append(out[cur], ident)
	}
	return out
}

// TestPromptAndGrammarSpellNamesAlike is the property that the prompt and the grammar agree:
// for random schemas of hard names, every table and column spelling the DDL in the prompt
// prints is accepted by the schema grammar's table and column rules (as SELECT col FROM tbl;)
// and by the narrow grammar, and PostgreSQL's parser reads each spelling back as the name it
// stands for.
func TestPromptAndGrammarSpellNamesAlike(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 150 {
		s := randomSchema(r)
		ddl := introspect.Render(s)
		spell := ddlSpellings(t, ddl)
		full := mustParseGBNF(t, SchemaGrammar(s))
		narrow := mustParseGBNF(t, NarrowGrammar(s))
		for ti := range s.Tables {
			tb := &s.Tables[ti]
			tsp := tb.RefName()
			cols, ok := spell[tsp]
			if !ok {
				t.Fatalf("schema %d: the DDL does not print table %s.%s as %s:\n%s", i, tb.Schema, tb.Name, tsp, ddl)
			}
			if len(cols) != len(tb.Columns) {
				t.Fatalf("schema %d: table %s: DDL prints %d columns, want %d:\n%s", i, tsp, len(cols), len(tb.Columns), ddl)
			}
			for ci, csp := range cols {
				q := fmt.Sprintf("SELECT %s FROM %s;", csp, tsp)
				if ok, at := full.Accepts(q); !ok {
					t.Errorf("schema %d: schema grammar refuses the DDL's spelling %q (stuck at byte %d)", i, q, at)
				}
				if ok, at := narrow.Accepts(strings.TrimSuffix(q, ";") + ";"); !ok {
					t.Errorf("schema %d: narrow grammar refuses the DDL's spelling %q (stuck at byte %d)", i, q, at)
				}
				checkParsesBack(t, q, tb, tb.Columns[ci].Name)
			}
		}
	}
}

// checkParsesBack parses q (SELECT col FROM tbl) and checks that PostgreSQL reads the names
// that tb and col stand for.
func checkParsesBack(t *testing.T, q string, tb *introspect.Table, col string) {
	t.Helper()
	tree, err := pg_query.Parse(q)
	if err != nil {
		t.Errorf("%q does not parse: %v", q, err)
		return
	}
	sel := tree.Stmts[0].Stmt.GetSelectStmt()
	rv := sel.FromClause[0].GetRangeVar()
	if rv.Relname != tb.Name || (rv.Schemaname != "" && rv.Schemaname != tb.Schema) || (rv.Schemaname == "" && !tb.Visible) {
		t.Errorf("%q: table read as %q.%q, want %q.%q", q, rv.Schemaname, rv.Relname, tb.Schema, tb.Name)
	}
	ref := sel.TargetList[0].GetResTarget().Val.GetColumnRef()
	if ref == nil || len(ref.Fields) != 1 || ref.Fields[0].GetString_().GetSval() != col {
		t.Errorf("%q: column not read as %q", q, col)
	}
}
