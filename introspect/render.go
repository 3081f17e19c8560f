package introspect

import (
	"strings"
)

// maxEnumLabels caps how many enum labels a column comment lists.
const maxEnumLabels = 40

// Render writes s as the DDL SQLCoder was trained on: one CREATE TABLE per relation with one
// column per line and its description as a trailing `--` comment, primary keys and unique
// constraints inline, and the foreign keys as `-- a.x can be joined with b.y` lines after the
// tables. Relations that are not plain tables carry a `-- view` (etc.) line. Names are quoted
// only where PostgreSQL needs quotes and qualified only where the search_path does not reach
// them. The output depends only on s (same schema, same bytes).
func Render(s *Schema) string {
	if s == nil || len(s.Tables) == 0 {
		return ""
	}
	var b strings.Builder
	for i := range s.Tables {
		if i > 0 {
			b.WriteString("\n")
		}
		b.WriteString(renderTable(&s.Tables[i]))
	}
	if joins := joinLines(s); len(joins) > 0 {
		b.WriteString("\n")
		for _, l := range joins {
			b.WriteString(l)
			b.WriteString("\n")
		}
	}
	return b.String()
}

// renderTable renders one table's block, ending in ");\n".
func renderTable(t *Table) string {
	var b strings.Builder
	head := ""
	switch t.Kind {
	case KindTable, KindPartitionedTable, "":
	default:
		head = t.Kind
	}
	if c := oneLine(t.Comment); c != "" {
		if head != "" {
			head += ": "
		}
		head += c
	}
	if head != "" {
		b.WriteString("-- " + head + "\n")
	}
	b.WriteString("CREATE TABLE " + t.RefName() + " (\n")

	type item struct{ text, comment string }
	items := make([]item, 0, len(t.Columns)+2)
	singlePK := len(t.PrimaryKey) == 1
	singleUnique := map[string]bool{}
	var multiUnique [][]string
	for _, u := range t.Uniques {
		if len(u) == 1 {
			singleUnique[u[0]] = true
		} else {
			multiUnique = append(multiUnique, u)
		}
	}
	for i := range t.Columns {
		c := &t.Columns[i]
		text := QuoteIdent(c.Name) + " " + shortType(c.Type)
		if singlePK && t.PrimaryKey[0] == c.Name {
			text += " PRIMARY KEY"
		} else if singleUnique[c.Name] {
			text += " UNIQUE"
		}
		items = append(items, item{text, columnComment(c)})
	}
	if len(t.PrimaryKey) > 1 {
		items = append(items, item{text: "PRIMARY KEY (" + identList(t.PrimaryKey) + ")"})
	}
	for _, u := range multiUnique {
		items = append(items, item{text: "UNIQUE (" + identList(u) + ")"})
	}
	for i, it := range items {
		b.WriteString("  ")
		b.WriteString(it.text)
		if i < len(items)-1 {
			b.WriteString(",")
		}
		if it.comment != "" {
			b.WriteString(" --")
			b.WriteString(it.comment)
		}
		b.WriteString("\n")
	}
	b.WriteString(");\n")
	return b.String()
}

// columnComment is a column's comment on one line, with the enum labels or the first few
// most common values (Column.Values) appended.
func columnComment(c *Column) string {
	cm := oneLine(c.Comment)
	if len(c.Enum) == 0 {
		ex := exampleValues(c)
		switch {
		case ex == "":
			return cm
		case cm == "":
			return ex
		}
		return cm + "; " + ex
	}
	labels := c.Enum
	more := ""
	if len(labels) > maxEnumLabels {
		labels, more = labels[:maxEnumLabels], ", ..."
	}
	q := make([]string, len(labels))
	for i, l := range labels {
		q[i] = QuoteLiteral(oneLine(l))
	}
	vals := "possible values: " + strings.Join(q, ", ") + more
	if cm == "" {
		return vals
	}
	return cm + "; " + vals
}

// joinLines states each foreign key whose both ends are in s, in table order.
func joinLines(s *Schema) []string {
	var lines []string
	for i := range s.Tables {
		t := &s.Tables[i]
		for _, fk := range t.ForeignKeys {
			if l, ok := joinLine(s, t, fk); ok {
				lines = append(lines, l)
			}
		}
	}
	return lines
}

func joinLine(s *Schema, t *Table, fk ForeignKey) (string, bool) {
	ref := s.Table(fk.RefSchema, fk.RefTable)
	if ref == nil {
		return "", false
	}
	for _, c := range fk.Columns {
		if t.Column(c) == nil {
			return "", false
		}
	}
	for _, c := range fk.RefColumns {
		if ref.Column(c) == nil {
			return "", false
		}
	}
	return "-- " + colRef(t.RefName(), fk.Columns) + " can be joined with " + colRef(ref.RefName(), fk.RefColumns), true
}

func colRef(table string, cols []string) string {
	if len(cols) == 1 {
		return table + "." + QuoteIdent(cols[0])
	}
	return table + ".(" + identList(cols) + ")"
}

func identList(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = QuoteIdent(n)
	}
	return strings.Join(q, ", ")
}

// oneLine folds every run of white space (newlines included) into one space, so that a
// comment cannot end its `--` line early.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// shortType spells format_type's long names the short way DDL is usually written (and that
// the model saw most): varchar, timestamp, timestamptz, char, timetz.
func shortType(t string) string {
	repl := []struct{ long, short string }{
		{"character varying", "varchar"},
		{"character", "char"},
	}
	for _, r := range repl {
		if rest, ok := strings.CutPrefix(t, r.long); ok && (rest == "" || rest[0] == '(' || rest[0] == '[') {
			return r.short + rest
		}
	}
	for _, z := range []struct{ base, with, without string }{
		{"timestamp", "timestamptz", "timestamp"},
		{"time", "timetz", "time"},
	} {
		if !strings.HasPrefix(t, z.base) {
			continue
		}
		rest := t[len(z.base):]
		mod := ""
		if strings.HasPrefix(rest, "(") {
			if end := strings.IndexByte(rest, ')'); end > 0 {
				mod, rest = rest[:end+1], rest[end+1:]
			}
		}
		switch {
		case strings.HasPrefix(rest, " without time zone"):
			return z.without + mod + rest[len(" without time zone"):]
		case strings.HasPrefix(rest, " with time zone"):
			return z.with + mod + rest[len(" with time zone"):]
		}
	}
	return t
}

// RenderMSchema writes s as M-Schema, the schema format XiYan-SQL was trained on: a `# Table:`
// block per relation with one `(name:TYPE, Primary Key, description, Examples: [...])` line per
// column (enum labels as the examples), then the foreign keys as `a.x=b.y` lines. Names are
// spelled as Render spells them.
func RenderMSchema(s *Schema) string {
	if s == nil || len(s.Tables) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString("【Schema】\n")
	for i := range s.Tables {
		t := &s.Tables[i]
		b.WriteString("# Table: " + t.RefName())
		if c := oneLine(t.Comment); c != "" {
			b.WriteString(", " + c)
		}
		b.WriteString("\n[\n")
		for j := range t.Columns {
			c := &t.Columns[j]
			parts := []string{QuoteIdent(c.Name) + ":" + strings.ToUpper(shortType(c.Type))}
			if len(t.PrimaryKey) == 1 && t.PrimaryKey[0] == c.Name {
				parts = append(parts, "Primary Key")
			}
			if cm := oneLine(c.Comment); cm != "" {
				parts = append(parts, cm)
			}
			if len(c.Enum) > 0 {
				labels := c.Enum[:min(len(c.Enum), 6)]
				q := make([]string, len(labels))
				for k, l := range labels {
					q[k] = oneLine(l)
				}
				parts = append(parts, "Examples: ["+strings.Join(q, ", ")+"]")
			}
			b.WriteString("(" + strings.Join(parts, ", ") + ")")
			if j < len(t.Columns)-1 {
				b.WriteString(",")
			}
			b.WriteString("\n")
		}
		b.WriteString("]\n")
	}
	var fks []string
	for i := range s.Tables {
		t := &s.Tables[i]
		for _, fk := range t.ForeignKeys {
			ref := s.Table(fk.RefSchema, fk.RefTable)
			if ref == nil || len(fk.Columns) != len(fk.RefColumns) {
				continue
			}
			for k := range fk.Columns {
				fks = append(fks, t.RefName()+"."+QuoteIdent(fk.Columns[k])+"="+ref.RefName()+"."+QuoteIdent(fk.RefColumns[k]))
			}
		}
	}
	if len(fks) > 0 {
		b.WriteString("【Foreign keys】\n" + strings.Join(fks, "\n") + "\n")
	}
	return b.String()
}
