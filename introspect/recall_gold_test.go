package introspect_test

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"

	pg_query "github.com/pganalyze/pg_query_go/v6"

	"github.com/pgask/pgask/introspect"
)

// goldAlt is what one alternative of a gold query reads: its tables (of the question's
// schema) and the columns it names, resolved to those tables where the SQL qualifies them.
type goldAlt struct {
	tables  []string
	columns []goldCol // table "" means "one of the tables that has it"
}

type goldCol struct{ table, name string }

var (
	braceChoice = regexp.MustCompile(`\{([^{}]*)\}`)
	braceEmpty  = regexp.MustCompile(`\{\}\s*,\s*`) // GROUP BY {}, m.category: the chosen columns
)

// goldRefs parses a sql-eval gold entry (alternatives separated by ';', {a, b} choices)
// against the tables of schema in s.
func goldRefs(s *introspect.Schema, schema, sql string) ([]goldAlt, error) {
	sql = braceChoice.ReplaceAllString(braceEmpty.ReplaceAllString(sql, ""), "$1")
	js, err := pg_query.ParseToJSON(sql)
	if err != nil {
		return nil, fmt.Errorf("parse gold %q: %w", sql, err)
	}
	var tree struct {
		Stmts []struct {
			Stmt any `json:"stmt"`
		} `json:"stmts"`
	}
	if err := json.Unmarshal([]byte(js), &tree); err != nil {
		return nil, err
	}
	var alts []goldAlt
	for _, st := range tree.Stmts {
		aliases := map[string]string{} // alias or name → table of schema
		var refs [][]string
		walkJSON(st.Stmt, func(kind string, node map[string]any) {
			switch kind {
			case "RangeVar":
				rel, _ := node["relname"].(string)
				if s.Table(schema, rel) == nil {
					return // a CTE or something outside the question's database
				}
				aliases[rel] = rel
				if a, ok := node["alias"].(map[string]any); ok {
					if n, ok := a["aliasname"].(string); ok {
						aliases[n] = rel
					}
				}
			case "ColumnRef":
				fields, _ := node["fields"].([]any)
				var names []string
				for _, f := range fields {
					fm, _ := f.(map[string]any)
					if str, ok := fm["String"].(map[string]any); ok {
						sv, _ := str["sval"].(string)
						names = append(names, sv)
					}
				}
				if len(names) > 0 {
					refs = append(refs, names)
				}
			}
		})
		var alt goldAlt
		seen := map[string]bool{}
		for _, rel := range aliases {
			if !seen[rel] {
				seen[rel] = true
				alt.tables = append(alt.tables, rel)
			}
		}
		for _, names := range refs {
			col := names[len(names)-1]
			if len(names) >= 2 {
				if rel, ok := aliases[names[len(names)-2]]; ok && s.Table(schema, rel).Column(col) != nil {
					alt.columns = append(alt.columns, goldCol{rel, col})
					continue
				}
			}
			// Unqualified (or qualified by a subquery alias): a column of one of the tables,
			// or else an output alias, which needs nothing.
			for _, rel := range alt.tables {
				if s.Table(schema, rel).Column(col) != nil {
					alt.columns = append(alt.columns, goldCol{"", col})
					break
				}
			}
		}
		alts = append(alts, alt)
	}
	return alts, nil
}

func walkJSON(v any, visit func(kind string, node map[string]any)) {
	switch x := v.(type) {
	case map[string]any:
		for k, child := range x {
			if m, ok := child.(map[string]any); ok && len(k) > 0 && k[0] >= 'A' && k[0] <= 'Z' {
				visit(k, m)
			}
			walkJSON(child, visit)
		}
	case []any:
		for _, child := range x {
			walkJSON(child, visit)
		}
	}
}

// survives reports whether the alternative's tables and columns are all in pruned (and,
// separately, whether its tables are).
func (a goldAlt) survives(pruned *introspect.Schema, schema string) (all, tables bool) {
	for _, rel := range a.tables {
		if pruned.Table(schema, rel) == nil {
			return false, false
		}
	}
	for _, c := range a.columns {
		if c.table != "" {
			if pruned.Table(schema, c.table).Column(c.name) == nil {
				return false, true
			}
			continue
		}
		found := false
		for _, rel := range a.tables {
			if pruned.Table(schema, rel).Column(c.name) != nil {
				found = true
			}
		}
		if !found {
			return false, true
		}
	}
	return true, true
}

func (a goldAlt) String() string {
	var cols []string
	for _, c := range a.columns {
		cols = append(cols, strings.TrimPrefix(c.table+"."+c.name, "."))
	}
	return fmt.Sprintf("tables %v columns %v", a.tables, cols)
}
