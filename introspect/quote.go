package introspect

import (
	"slices"
	"strings"
)

// QuoteIdent returns name as SQL must spell it: unchanged when it is a plain lower-case
// identifier that is not a reserved, column-name or type/function-name keyword, otherwise in
// double quotes with embedded quotes doubled (the rule of PostgreSQL's quote_ident).
func QuoteIdent(name string) string {
	if isPlainIdent(name) {
		return name
	}
	return `"` + strings.ReplaceAll(name, `"`, `""`) + `"`
}

// QuoteLiteral returns s as a standard-conforming SQL string literal: in single quotes, embedded
// quotes doubled, NUL bytes (which no PostgreSQL text can hold) dropped. Backslashes stay as
// they are, which is right while standard_conforming_strings is on (the default since 9.1).
func QuoteLiteral(s string) string {
	s = strings.ReplaceAll(s, "\x00", "")
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}

func isPlainIdent(name string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c >= 'a' && c <= 'z', c == '_':
		case c >= '0' && c <= '9':
			if i == 0 {
				return false
			}
		default:
			return false
		}
	}
	_, kw := slices.BinarySearch(quotedKeywordList[:], name)
	return !kw
}

// quotedKeywordList holds, sorted, the keywords that quote_ident quotes (every category but
// unreserved), from PostgreSQL 17's kwlist.h: a superset of older releases' lists, so at worst
// a name is quoted that an older server would accept bare. Read-only.
var quotedKeywordList = [...]string{
	"all", "analyse", "analyze", "and", "any", "array", "as", "asc",
	"asymmetric", "authorization", "between", "bigint", "binary", "bit", "boolean", "both",
	"case", "cast", "char", "character", "check", "coalesce", "collate", "collation",
	"column", "concurrently", "constraint", "create", "cross", "current_catalog", "current_date", "current_role",
	"current_schema", "current_time", "current_timestamp", "current_user", "dec", "decimal", "default", "deferrable",
	"desc", "distinct", "do", "else", "end", "except", "exists", "extract",
	"false", "fetch", "float", "for", "foreign", "freeze", "from", "full",
	"grant", "greatest", "group", "grouping", "having", "ilike", "in", "initially",
	"inner", "inout", "int", "integer", "intersect", "interval", "into", "is",
	"isnull", "join", "json", "json_array", "json_arrayagg", "json_exists", "json_object", "json_objectagg",
	"json_query", "json_scalar", "json_serialize", "json_table", "json_value", "lateral", "leading", "least",
	"left", "like", "limit", "localtime", "localtimestamp", "merge_action", "national", "natural",
	"nchar", "none", "normalize", "not", "notnull", "null", "nullif", "numeric",
	"offset", "on", "only", "or", "order", "out", "outer", "overlaps",
	"overlay", "placing", "position", "precision", "primary", "real", "references", "returning",
	"right", "row", "select", "session_user", "setof", "similar", "smallint", "some",
	"substring", "symmetric", "system_user", "table", "tablesample", "then", "time", "timestamp",
	"to", "trailing", "treat", "trim", "true", "union", "unique", "user",
	"using", "values", "varchar", "variadic", "verbose", "when", "where", "window",
	"with", "xmlattributes", "xmlconcat", "xmlelement", "xmlexists", "xmlforest", "xmlnamespaces", "xmlparse",
	"xmlpi", "xmlroot", "xmlserialize", "xmltable",
}
