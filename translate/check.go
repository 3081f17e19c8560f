package translate

import (
	"errors"
	"fmt"
	"strings"

	pg_query "github.com/pganalyze/pg_query_go/v6"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// deniedFunctions are refused in generated SQL unless Options.AllowFunctions names them. A
// trailing '*' matches a prefix. Names are compared in lower case without their schema.
var deniedFunctions = []string{
	"pg_terminate_backend", "pg_cancel_backend", "pg_read_file", "pg_read_binary_file",
	"pg_ls_*", "pg_stat_file", "lo_*", "dblink*", "set_config", "pg_sleep*", "pg_reload_conf",
	"pg_rotate_logfile", "pg_advisory*", "pg_try_advisory*", "pg_switch_wal", "pg_create_restore_point",
	"pg_promote", "pg_logical_emit_message", "pg_notify", "pg_stat_reset*", "pg_file_*", "nextval",
	"setval", "pg_backup_*", "pg_create_*", "pg_drop_*", "pg_replication_*", "pg_wal_replay_*",
	"pg_log_backend_memory_contexts", "pg_import_system_collations", "txid_current", "pg_current_xact_id",
}

// parseError is a generated statement that PostgreSQL's parser rejects; the repair loop feeds
// its message back to the model.
type parseError struct{ err error }

func (e *parseError) Error() string { return e.err.Error() }

// unsafeError is a statement that parses but is refused (not a single plain SELECT, or a call
// to a denied function); it is not repaired.
type unsafeError struct{ reason string }

func (e *unsafeError) Error() string { return e.reason }

// CheckStatic parses sql with PostgreSQL's parser and reports whether it is exactly one SELECT
// (WITH … SELECT, set operations and VALUES included) without data-modifying statements in
// CTEs, locking clauses (FOR UPDATE/SHARE), SELECT INTO, or calls to denied functions (those
// in allow are permitted). A syntax error comes back as an error whose message is PostgreSQL's.
func CheckStatic(sql string, allow []string) error {
	tree, err := pg_query.Parse(sql)
	if err != nil {
		return &parseError{err: fmt.Errorf("syntax error: %w", err)}
	}
	if len(tree.Stmts) != 1 {
		return &unsafeError{fmt.Sprintf("expected exactly one statement, got %d", len(tree.Stmts))}
	}
	sel := tree.Stmts[0].GetStmt().GetSelectStmt()
	if sel == nil {
		return &unsafeError{"not a SELECT statement: " + stmtKind(tree.Stmts[0].GetStmt())}
	}
	var problem error
	walk(sel.ProtoReflect(), func(m protoreflect.Message) bool {
		switch n := m.Interface().(type) {
		case *pg_query.InsertStmt, *pg_query.UpdateStmt, *pg_query.DeleteStmt, *pg_query.MergeStmt:
			problem = &unsafeError{"data-modifying statement inside the query"}
		case *pg_query.SelectStmt:
			if n.IntoClause != nil {
				problem = &unsafeError{"SELECT INTO creates a table"}
			} else if len(n.LockingClause) > 0 {
				problem = &unsafeError{"locking clause (FOR UPDATE/SHARE) not allowed"}
			}
		case *pg_query.FuncCall:
			if name := funcName(n); denied(name, allow) {
				problem = &unsafeError{fmt.Sprintf("function %s is not allowed", name)}
			}
		}
		return problem == nil
	})
	return problem
}

func stmtKind(n *pg_query.Node) string {
	if n == nil || n.Node == nil {
		return "empty"
	}
	return strings.TrimPrefix(fmt.Sprintf("%T", n.Node), "*pg_query.Node_")
}

func funcName(f *pg_query.FuncCall) string {
	var parts []string
	for _, n := range f.Funcname {
		if s := n.GetString_(); s != nil {
			parts = append(parts, s.Sval)
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return strings.ToLower(parts[len(parts)-1])
}

func denied(name string, allow []string) bool {
	for _, a := range allow {
		if strings.EqualFold(a, name) {
			return false
		}
	}
	for _, d := range deniedFunctions {
		if p, ok := strings.CutSuffix(d, "*"); ok {
			if strings.HasPrefix(name, p) {
				return true
			}
		} else if name == d {
			return true
		}
	}
	return false
}

// walk visits m and every message below it, depth first, while visit returns true.
func walk(m protoreflect.Message, visit func(protoreflect.Message) bool) bool {
	if !visit(m) {
		return false
	}
	ok := true
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		if fd.Kind() != protoreflect.MessageKind && fd.Kind() != protoreflect.GroupKind {
			return true
		}
		switch {
		case fd.IsList():
			l := v.List()
			for i := 0; i < l.Len() && ok; i++ {
				ok = walk(l.Get(i).Message(), visit)
			}
		case fd.IsMap():
		default:
			ok = walk(v.Message(), visit)
		}
		return ok
	})
	return ok
}

func isUnsafe(err error) bool {
	var u *unsafeError
	return errors.As(err, &u)
}
