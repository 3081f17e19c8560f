package introspect

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
)

// Options shape what Load reads.
type Options struct {
	// Schemas lists the namespaces to read, in order. Empty means the session's effective
	// search_path (current_schemas(false)). pg_catalog and information_schema are always left
	// out, and so is any schema the user lacks USAGE on.
	Schemas []string
}

// ErrUnexpectedResult is wrapped by errors about a catalog query that returned rows of an
// unexpected shape (for example a Querier that ran something else).
var ErrUnexpectedResult = errors.New("introspect: unexpected result shape")

// Load reads, in one statement, the tables, views, materialized views, partitioned tables
// (parents only) and foreign tables that the session's user may SELECT from, with the columns
// it may SELECT, their full types (domains resolved to base types, enum labels), primary keys,
// unique constraints, foreign keys and comments. Tables are ordered by their schema's position
// in the list, then by name; columns by attribute number.
func Load(ctx context.Context, q Querier, opts Options) (*Schema, error) {
	rows, err := q.QueryText(ctx, catalogQuery(opts))
	if err != nil {
		return nil, fmt.Errorf("introspect catalog: %w", err)
	}
	if len(rows) != 1 || len(rows[0]) != 1 || rows[0][0] == nil {
		return nil, fmt.Errorf("introspect catalog: %d rows: %w", len(rows), ErrUnexpectedResult)
	}
	s, err := decodeCatalog(rows[0][0])
	if err != nil {
		return nil, fmt.Errorf("introspect catalog: %w", err)
	}
	return s, nil
}

// schemaListSQL is the SQL expression of the schema names to read, in order.
func schemaListSQL(opts Options) string {
	if len(opts.Schemas) == 0 {
		return "current_schemas(false)"
	}
	lits := make([]string, len(opts.Schemas))
	for i, s := range opts.Schemas {
		lits[i] = quoteLiteral(s)
	}
	return "ARRAY[" + strings.Join(lits, ", ") + "]::text[]"
}

// quoteLiteral quotes s as a standard-conforming SQL string literal.
func quoteLiteral(s string) string {
	s = strings.ReplaceAll(s, "\x00", "")
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}

// nspCTE selects the namespaces to read (oid, name, position).
func nspCTE(opts Options) string {
	return `nsp AS (
  SELECT DISTINCT ON (n.oid) n.oid, n.nspname, s.ord
  FROM unnest(` + schemaListSQL(opts) + `) WITH ORDINALITY AS s(name, ord)
  JOIN pg_catalog.pg_namespace n ON n.nspname = s.name
  WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')
    AND pg_catalog.has_schema_privilege(n.oid, 'USAGE')
  ORDER BY n.oid, s.ord
)`
}

// catalogQuery returns one row with one JSON document: {"r": relations, "c": columns,
// "k": constraints}. Every catalog reference is schema-qualified so that a hostile
// search_path cannot shadow it.
func catalogQuery(opts Options) string {
	return `WITH RECURSIVE ` + nspCTE(opts) + `,
rel AS (
  SELECT c.oid, nsp.nspname, nsp.ord, c.relname, c.relkind,
         pg_catalog.pg_table_is_visible(c.oid) AS visible
  FROM pg_catalog.pg_class c
  JOIN nsp ON nsp.oid = c.relnamespace
  WHERE c.relkind IN ('r', 'v', 'm', 'p', 'f') AND NOT c.relispartition
    AND pg_catalog.has_any_column_privilege(c.oid, 'SELECT')
),
dom AS (
  SELECT t.oid, t.typbasetype AS typ, t.typtypmod AS typmod
  FROM pg_catalog.pg_type t WHERE t.typtype = 'd'
  UNION ALL
  SELECT dom.oid, b.typbasetype, b.typtypmod
  FROM dom JOIN pg_catalog.pg_type b ON b.oid = dom.typ AND b.typtype = 'd'
),
base AS (
  SELECT dom.oid, dom.typ, dom.typmod
  FROM dom JOIN pg_catalog.pg_type b ON b.oid = dom.typ AND b.typtype <> 'd'
),
enums AS (
  SELECT e.enumtypid, pg_catalog.json_agg(e.enumlabel ORDER BY e.enumsortorder) AS labels
  FROM pg_catalog.pg_enum e GROUP BY e.enumtypid
),
col AS (
  SELECT a.attrelid, a.attnum, a.attname, a.attnotnull, d.description,
         CASE WHEN eb.oid IS NOT NULL THEN pg_catalog.format_type(eb.typ, eb.typmod) || '[]'
              ELSE pg_catalog.format_type(coalesce(ab.typ, a.atttypid),
                                          CASE WHEN ab.oid IS NULL THEN a.atttypmod ELSE ab.typmod END)
         END AS typ,
         en.labels
  FROM pg_catalog.pg_attribute a
  JOIN rel ON rel.oid = a.attrelid
  LEFT JOIN base ab ON ab.oid = a.atttypid
  JOIN pg_catalog.pg_type ft ON ft.oid = coalesce(ab.typ, a.atttypid)
  LEFT JOIN base eb ON ft.typcategory = 'A' AND eb.oid = ft.typelem
  LEFT JOIN enums en ON en.enumtypid = CASE WHEN ft.typcategory = 'A' AND ft.typelem <> 0
                                            THEN coalesce(eb.typ, ft.typelem) ELSE ft.oid END
  LEFT JOIN pg_catalog.pg_description d
         ON d.objoid = a.attrelid AND d.classoid = 'pg_catalog.pg_class'::pg_catalog.regclass
        AND d.objsubid = a.attnum
  WHERE a.attnum > 0 AND NOT a.attisdropped
    AND pg_catalog.has_column_privilege(a.attrelid, a.attnum, 'SELECT')
)
SELECT pg_catalog.json_build_object(
  'r', (SELECT coalesce(pg_catalog.json_agg(pg_catalog.json_build_array(
          rel.oid::int8, rel.nspname, rel.ord, rel.relname, rel.relkind, rel.visible, d.description)), '[]')
        FROM rel LEFT JOIN pg_catalog.pg_description d
          ON d.objoid = rel.oid AND d.classoid = 'pg_catalog.pg_class'::pg_catalog.regclass
         AND d.objsubid = 0),
  'c', (SELECT coalesce(pg_catalog.json_agg(pg_catalog.json_build_array(
          attrelid::int8, attnum, attname, typ, attnotnull, description, labels)), '[]') FROM col),
  'k', (SELECT coalesce(pg_catalog.json_agg(pg_catalog.json_build_array(
          k.conrelid::int8, k.conname, k.contype, k.conkey, k.confrelid::int8, k.confkey)), '[]')
        FROM pg_catalog.pg_constraint k JOIN rel ON rel.oid = k.conrelid
        WHERE k.contype IN ('p', 'u', 'f'))
)::text`
}

type rawCatalog struct {
	R [][]json.RawMessage `json:"r"`
	C [][]json.RawMessage `json:"c"`
	K [][]json.RawMessage `json:"k"`
}

type relInfo struct {
	ord   int64
	table *Table
	cols  map[int64]string // attnum → name, visible columns only
}

func decodeCatalog(doc []byte) (*Schema, error) {
	var raw rawCatalog
	if err := json.Unmarshal(doc, &raw); err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	rels := make(map[uint32]*relInfo, len(raw.R))
	order := make([]uint32, 0, len(raw.R))
	for _, r := range raw.R {
		var (
			oid        uint32
			nsp, name  string
			ord        int64
			kind       string
			visible    bool
			comment    *string
			wantFields = 7
		)
		if len(r) != wantFields {
			return nil, fmt.Errorf("relation has %d fields: %w", len(r), ErrUnexpectedResult)
		}
		if err := unmarshalAll(r, &oid, &nsp, &ord, &name, &kind, &visible, &comment); err != nil {
			return nil, fmt.Errorf("decode relation: %w", err)
		}
		t := &Table{Schema: nsp, Name: name, Kind: relKind(kind), Visible: visible}
		if comment != nil {
			t.Comment = *comment
		}
		rels[oid] = &relInfo{ord: ord, table: t, cols: map[int64]string{}}
		order = append(order, oid)
	}
	type colKey struct {
		rel uint32
		num int64
	}
	type colRow struct {
		colKey
		c Column
	}
	cols := make([]colRow, 0, len(raw.C))
	for _, r := range raw.C {
		if len(r) != 7 {
			return nil, fmt.Errorf("column has %d fields: %w", len(r), ErrUnexpectedResult)
		}
		var (
			cr      colRow
			comment *string
		)
		if err := unmarshalAll(r, &cr.rel, &cr.num, &cr.c.Name, &cr.c.Type, &cr.c.NotNull, &comment, &cr.c.Enum); err != nil {
			return nil, fmt.Errorf("decode column: %w", err)
		}
		if comment != nil {
			cr.c.Comment = *comment
		}
		cols = append(cols, cr)
	}
	sort.Slice(cols, func(i, j int) bool {
		if cols[i].rel != cols[j].rel {
			return cols[i].rel < cols[j].rel
		}
		return cols[i].num < cols[j].num
	})
	for _, cr := range cols {
		ri := rels[cr.rel]
		if ri == nil {
			continue
		}
		ri.table.Columns = append(ri.table.Columns, cr.c)
		ri.cols[cr.num] = cr.c.Name
	}

	type con struct {
		rel     uint32
		name    string
		typ     string
		key     []int64
		refRel  uint32
		refKeys []int64
	}
	cons := make([]con, 0, len(raw.K))
	for _, r := range raw.K {
		if len(r) != 6 {
			return nil, fmt.Errorf("constraint has %d fields: %w", len(r), ErrUnexpectedResult)
		}
		var k con
		var refRel *uint32
		if err := unmarshalAll(r, &k.rel, &k.name, &k.typ, &k.key, &refRel, &k.refKeys); err != nil {
			return nil, fmt.Errorf("decode constraint: %w", err)
		}
		if refRel != nil {
			k.refRel = *refRel
		}
		cons = append(cons, k)
	}
	sort.Slice(cons, func(i, j int) bool {
		if cons[i].rel != cons[j].rel {
			return cons[i].rel < cons[j].rel
		}
		return cons[i].name < cons[j].name
	})
	for _, k := range cons {
		ri := rels[k.rel]
		if ri == nil {
			continue
		}
		names, ok := attNames(ri.cols, k.key)
		if !ok {
			continue // a column the user may not see: leave the constraint out
		}
		switch k.typ {
		case "p":
			ri.table.PrimaryKey = names
		case "u":
			ri.table.Uniques = append(ri.table.Uniques, names)
		case "f":
			ref := rels[k.refRel]
			if ref == nil {
				continue // the referenced table is not visible to the user or not on the path
			}
			refNames, ok := attNames(ref.cols, k.refKeys)
			if !ok {
				continue
			}
			ri.table.ForeignKeys = append(ri.table.ForeignKeys, ForeignKey{
				Columns: names, RefSchema: ref.table.Schema, RefTable: ref.table.Name, RefColumns: refNames,
			})
		}
	}

	sort.SliceStable(order, func(i, j int) bool {
		a, b := rels[order[i]], rels[order[j]]
		if a.ord != b.ord {
			return a.ord < b.ord
		}
		return a.table.Name < b.table.Name
	})
	s := &Schema{Tables: make([]Table, 0, len(order))}
	for _, oid := range order {
		s.Tables = append(s.Tables, *rels[oid].table)
	}
	return s, nil
}

func attNames(cols map[int64]string, nums []int64) ([]string, bool) {
	if len(nums) == 0 {
		return nil, false
	}
	names := make([]string, len(nums))
	for i, n := range nums {
		name, ok := cols[n]
		if !ok {
			return nil, false
		}
		names[i] = name
	}
	return names, true
}

func unmarshalAll(fields []json.RawMessage, dst ...any) error {
	for i, f := range fields {
		if err := json.Unmarshal(f, dst[i]); err != nil {
			return fmt.Errorf("field %d: %w", i, err)
		}
	}
	return nil
}

func relKind(k string) string {
	switch k {
	case "r":
		return KindTable
	case "v":
		return KindView
	case "m":
		return KindMaterializedView
	case "p":
		return KindPartitionedTable
	case "f":
		return KindForeignTable
	}
	return k
}
