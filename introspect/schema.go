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
	Schema      string // namespace, e.g. "public"
	Name        string
	Kind        string // "table", "view", "materialized view", "partitioned table", "foreign table"
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
}

// ForeignKey is a (possibly composite) foreign key.
type ForeignKey struct {
	Columns    []string
	RefSchema  string
	RefTable   string
	RefColumns []string
}
