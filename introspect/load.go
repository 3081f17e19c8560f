package introspect

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Options shape what Load reads.
type Options struct {
	// Schemas lists the namespaces to read, in order. Empty means the session's effective
	// search_path (current_schemas(false)) or, when no table the user may read is there (a
	// database whose tables all live in their own schema, as defog's ewallet in consumer_div),
	// every schema the user may use, by name. pg_catalog, information_schema and the pg_*
	// schemas are always left out, and so is any schema the user lacks USAGE on.
	Schemas []string
	// Values reads, for the text-like columns of every table, the most common values that
	// PostgreSQL's statistics hold (pg_stats.most_common_vals, which shows only columns the
	// user may read): no table is scanned, and a column without statistics (never analyzed,
	// or with no repeated value) gets none. See Column.Values.
	Values bool
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
	s, err := decodeCatalog(rows)
	if err != nil {
		return nil, fmt.Errorf("introspect catalog: %w", err)
	}
	return s, nil
}

// schemaListSQL is the SQL expression of the schema names to read, in order.
func schemaListSQL(opts Options) string {
	if len(opts.Schemas) == 0 {
		return `(CASE WHEN EXISTS (
    SELECT FROM pg_catalog.pg_class c
    JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = ANY (pg_catalog.current_schemas(false))
      AND n.nspname NOT IN ('pg_catalog', 'information_schema')
      AND c.relkind IN ('r', 'v', 'm', 'p', 'f')
      AND pg_catalog.has_any_column_privilege(c.oid, 'SELECT'))
  THEN pg_catalog.current_schemas(false)
  ELSE ARRAY(SELECT n.nspname FROM pg_catalog.pg_namespace n
    WHERE n.nspname !~ '^pg_' AND n.nspname <> 'information_schema'
      AND pg_catalog.has_schema_privilege(n.oid, 'USAGE')
    ORDER BY n.nspname)
END)`
	}
	lits := make([]string, len(opts.Schemas))
	for i, s := range opts.Schemas {
		lits[i] = QuoteLiteral(s)
	}
	return "ARRAY[" + strings.Join(lits, ", ") + "]::text[]"
}

// nspCTE selects the namespaces to read (oid, name, position).
func nspCTE(opts Options) string {
	return `nsp AS (
  SELECT DISTINCT ON (n.oid) n.oid, n.nspname, s.ord
  FROM pg_catalog.unnest(` + schemaListSQL(opts) + `) WITH ORDINALITY AS s(name, ord)
  JOIN pg_catalog.pg_namespace n ON n.nspname = s.name
  WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')
    AND pg_catalog.has_schema_privilege(n.oid, 'USAGE')
  ORDER BY n.oid, s.ord
)`
}

// catalogQuery returns rows of eight text columns, the first saying what the row is:
//
//	r  oid, schema, schema position, name, relkind, visible (t/f), comment
//	c  relation oid, attnum, name, type, not null (t/f), comment, enum labels (JSON array)
//	k  relation oid, name, contype, columns (attnums, comma-separated), referenced relation
//	   oid, referenced columns
//	v  relation oid, column name, most common values (JSON array), with Options.Values only
//
// Text rows decode several times faster than one JSON document. Every catalog reference is schema-qualified so that a hostile
// search_path cannot shadow it.
func catalogQuery(opts Options) string {
	return `WITH RECURSIVE ` + nspCTE(opts) + `,
rel AS (
  SELECT c.oid, nsp.nspname, nsp.ord, c.relname, c.relkind,
         pg_catalog.pg_table_is_visible(c.oid) AS visible,
         pg_catalog.has_table_privilege(c.oid, 'SELECT') AS all_cols
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
descr AS MATERIALIZED (
  SELECT d.objoid, d.objsubid, d.description FROM pg_catalog.pg_description d
  WHERE d.classoid = 'pg_catalog.pg_class'::pg_catalog.regclass AND d.objoid IN (SELECT oid FROM rel)
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
  LEFT JOIN descr d ON d.objoid = a.attrelid AND d.objsubid = a.attnum
  WHERE a.attnum > 0 AND NOT a.attisdropped
    AND (rel.all_cols OR pg_catalog.has_column_privilege(a.attrelid, a.attnum, 'SELECT'))
)
SELECT 'r', rel.oid::text, rel.nspname::text, rel.ord::text, rel.relname::text, rel.relkind::text,
       rel.visible::text, d.description
FROM rel LEFT JOIN descr d ON d.objoid = rel.oid AND d.objsubid = 0
UNION ALL
SELECT 'c', attrelid::text, attnum::text, attname::text, typ, attnotnull::text, description, labels::text
FROM col
UNION ALL
SELECT 'k', k.conrelid::text, k.conname::text, k.contype::text,
       pg_catalog.array_to_string(k.conkey, ','), k.confrelid::text,
       pg_catalog.array_to_string(k.confkey, ','), NULL
FROM pg_catalog.pg_constraint k JOIN rel ON rel.oid = k.conrelid
WHERE k.contype IN ('p', 'u', 'f')` + valuesQuery(opts)
}

type relInfo struct {
	ord   int64
	table *Table
	cols  map[int64]string // attnum → name, visible columns only
}

func decodeCatalog(rows [][][]byte) (*Schema, error) {
	rels := map[uint32]*relInfo{}
	var order []uint32
	type colKey struct {
		rel uint32
		num int64
	}
	type colRow struct {
		colKey
		c Column
	}
	type con struct {
		rel     uint32
		name    string
		typ     string
		key     []int64
		refRel  uint32
		refKeys []int64
	}
	type valRow struct {
		rel    uint32
		col    string
		values []string
	}
	var (
		cols []colRow
		cons []con
		vals []valRow
	)
	for _, r := range rows {
		if len(r) != 8 || len(r[0]) != 1 {
			return nil, fmt.Errorf("row of %d fields: %w", len(r), ErrUnexpectedResult)
		}
		var d fieldDecoder
		switch r[0][0] {
		case 'r':
			oid := d.oid(r[1])
			t := &Table{Schema: string(r[2]), Name: string(r[4]), Kind: relKind(string(r[5])), Visible: d.bool(r[6]), Comment: string(r[7])}
			rels[oid] = &relInfo{ord: d.int(r[3]), table: t, cols: map[int64]string{}}
			order = append(order, oid)
		case 'c':
			cr := colRow{colKey: colKey{rel: d.oid(r[1]), num: d.int(r[2])},
				c: Column{Name: string(r[3]), Type: string(r[4]), NotNull: d.bool(r[5]), Comment: string(r[6])}}
			if r[7] != nil {
				if err := json.Unmarshal(r[7], &cr.c.Enum); err != nil {
					d.err = err
				}
			}
			cols = append(cols, cr)
		case 'v':
			vals = append(vals, valRow{rel: d.oid(r[1]), col: string(r[2]), values: decodeValues(r[3], &d)})
		case 'k':
			cons = append(cons, con{rel: d.oid(r[1]), name: string(r[2]), typ: string(r[3]),
				key: d.ints(r[4]), refRel: d.oid(r[5]), refKeys: d.ints(r[6])})
		default:
			return nil, fmt.Errorf("row kind %q: %w", r[0], ErrUnexpectedResult)
		}
		if d.err != nil {
			return nil, fmt.Errorf("decode %c row: %w", r[0][0], d.err)
		}
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

	for _, v := range vals {
		if ri := rels[v.rel]; ri != nil {
			if c := ri.table.Column(v.col); c != nil && len(c.Enum) == 0 {
				c.Values = v.values
			}
		}
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

// fieldDecoder parses text-format values, remembering the first error.
type fieldDecoder struct{ err error }

func (d *fieldDecoder) int(b []byte) int64 {
	n, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil && d.err == nil {
		d.err = err
	}
	return n
}

func (d *fieldDecoder) oid(b []byte) uint32 {
	n, err := strconv.ParseUint(string(b), 10, 32)
	if err != nil && d.err == nil {
		d.err = err
	}
	return uint32(n)
}

func (d *fieldDecoder) bool(b []byte) bool {
	switch string(b) {
	case "t", "true":
		return true
	case "f", "false":
		return false
	}
	if d.err == nil {
		d.err = fmt.Errorf("bad boolean %q", b)
	}
	return false
}

// ints parses a comma-separated list ("" or NULL: none).
func (d *fieldDecoder) ints(b []byte) []int64 {
	if len(b) == 0 {
		return nil
	}
	parts := strings.Split(string(b), ",")
	out := make([]int64, len(parts))
	for i, p := range parts {
		out[i] = d.int([]byte(p))
	}
	return out
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
