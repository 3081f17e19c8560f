package asksplit

import (
	"errors"
	"strings"
	"testing"
)

// FuzzSplit checks Split's invariants on arbitrary input: no panic; spans in order, inside the
// text and equal to Text; only white space, comments and ';' between statements; every
// statement splitting alone into itself; errors only of the documented kind; and
// MightContainASK never false when Split finds an ASK.
func FuzzSplit(f *testing.F) {
	for _, s := range []string{
		"select 1; ASK how many customers",
		"-- Metabase:: userID: 1\nASK what's the customer's total?",
		"ASK 'what''s new'; select 2",
		"ASK $q$a's$q$;ASK E'b\\'s';EXPLAIN ASK c",
		`SELECT * FROM (ASK how many orders) "Custom SQL Query"`,
		"/* a /* b */ c */ select $$;$$, \"x;y\", 'z;'; ask",
		"TEACH $$how many orders$$ AS SELECT count(*) FROM orders; ASK and only cancelled ones",
		"teach 'what''s new' as select ';' -- x\n; select 2",
		"TEACH how many AS SELECT 1",
		"select 1; TEACH E'a\\'s' AS /* c */ select $q$;$q$;ASK but in 2024",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		sts, err := Split(in)
		if err != nil {
			var se *SyntaxError
			if !errors.Is(err, ErrUnterminated) || !errors.As(err, &se) || se.Offset < 0 || se.Offset >= len(in) {
				t.Fatalf("Split(%q): unexpected error %v", in, err)
			}
			if len(sts) == 0 || sts[len(sts)-1].End != len(in) {
				t.Fatalf("Split(%q) failed with %v but its last statement does not run to the end: %+v", in, err, sts)
			}
		} else {
			checkSpans(t, in, sts)
		}
		found := false
		for _, st := range sts {
			if st.Text != in[st.Start:st.End] {
				t.Fatalf("Text %q != span %q", st.Text, in[st.Start:st.End])
			}
			found = found || st.IsASK || st.IsTeach || len(st.Embedded) > 0
			if !st.IsASK && !st.IsTeach && (st.DryRun || st.Question != "" || st.Quoted) {
				t.Fatalf("non-ASK statement with ASK fields: %+v", st)
			}
			if st.FollowUp && !st.IsASK || st.IsTeach && (st.IsASK || st.DryRun) || !st.IsTeach && st.TeachSQL != "" {
				t.Fatalf("inconsistent statement kind: %+v", st)
			}
			if st.IsTeach && st.TeachSQL != "" && (!strings.HasSuffix(st.Text, st.TeachSQL) || trimSpace(st.TeachSQL) != st.TeachSQL) {
				t.Fatalf("TEACH SQL %q is not the trimmed end of %q", st.TeachSQL, st.Text)
			}
			if st.IsASK && !st.Quoted && trimSpace(st.Question) != st.Question {
				t.Fatalf("question %q not trimmed", st.Question)
			}
		}
		if found && !MightContainASK([]byte(in)) {
			t.Fatalf("MightContainASK(%q) = false, Split found an ASK", in)
		}
	})
}
