// Package introspect reads the live schema that a session's user can see, caches it, renders it
// as DDL for a prompt and prunes it to a token budget.
package introspect

import "context"

// Querier runs one SQL statement without parameters over the simple query protocol and returns
// its rows with every value in text format; a NULL is a nil slice. It is the only thing
// introspection needs of a connection: a pgx conn in tests (see PgxQuerier), the client's own
// upstream session inside the proxy.
type Querier interface {
	QueryText(ctx context.Context, sql string) ([][][]byte, error)
}

// Schema is what one session's user can see in one database.
type Schema struct {
	Tables []Table
}

// Table is a table, view, materialized view, partitioned table or foreign table.
type Table struct {
	Schema string // namespace, e.g. "public"
	Name   string
	Kind   string // "table", "view", "materialized view", "partitioned table", "foreign table"
	// Visible reports whether the unqualified name resolves to this relation on the session's
	// search_path (pg_table_is_visible); Render qualifies the name when it does not.
	Visible     bool
	Comment     string
	Columns     []Column
	PrimaryKey  []string
	Uniques     [][]string
	ForeignKeys []ForeignKey
}

// Column is one column the user may SELECT, in attribute order.
type Column struct {
	Name    string
	Type    string // full type as format_type prints it, domains resolved to their base type
	NotNull bool
	Comment string
	Enum    []string // labels, in order, when the (base) type is an enum
	// Values are the column's most common values as the planner's statistics (pg_stats)
	// list them, most frequent first, for text-like columns when Options.Values is set: short
	// ones only, at most maxStoredValues. Render shows the first few as examples; MatchValues
	// looks for the question's words among all of them.
	Values []string `json:",omitempty"`
}

// Table kinds, as Table.Kind holds them.
const (
	KindTable            = "table"
	KindView             = "view"
	KindMaterializedView = "materialized view"
	KindPartitionedTable = "partitioned table"
	KindForeignTable     = "foreign table"
)

// QualifiedName is schema.name, each part quoted only where PostgreSQL needs quotes.
func (t *Table) QualifiedName() string {
	return QuoteIdent(t.Schema) + "." + QuoteIdent(t.Name)
}

// RefName is how SQL on the session refers to the table: the bare name when it is visible on
// the search_path, schema.name otherwise.
func (t *Table) RefName() string {
	if t.Visible {
		return QuoteIdent(t.Name)
	}
	return t.QualifiedName()
}

// Column returns the column called name, or nil.
func (t *Table) Column(name string) *Column {
	for i := range t.Columns {
		if t.Columns[i].Name == name {
			return &t.Columns[i]
		}
	}
	return nil
}

// Table returns the table schema.name, or nil.
func (s *Schema) Table(schema, name string) *Table {
	for i := range s.Tables {
		if s.Tables[i].Schema == schema && s.Tables[i].Name == name {
			return &s.Tables[i]
		}
	}
	return nil
}

// ForeignKey is a (possibly composite) foreign key.
type ForeignKey struct {
	Columns    []string
	RefSchema  string
	RefTable   string
	RefColumns []string
}
