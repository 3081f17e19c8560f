package asksplit

import (
	"errors"
	"reflect"
	"testing"
)

// want is the expected view of one statement.
type want struct {
	text     string
	ask      bool
	dry      bool
	question string
	quoted   bool
	embedded []string // questions of parenthesised ASKs
}

func view(sts []Statement) []want {
	var out []want
	for _, st := range sts {
		w := want{text: st.Text, ask: st.IsASK, dry: st.DryRun, question: st.Question, quoted: st.Quoted}
		for _, e := range st.Embedded {
			w.embedded = append(w.embedded, e.Question)
		}
		out = append(out, w)
	}
	return out
}

func TestSplit(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []want
	}{
		{"empty", "", nil},
		{"only space and comments", " -- x\n /* y */ ;; ", nil},
		{"plain select", "select 1", []want{{text: "select 1"}}},
		{"two selects", "select 1; select 2;", []want{{text: "select 1"}, {text: "select 2"}}},
		{"ask", "ASK how many customers", []want{{text: "ASK how many customers", ask: true, question: "how many customers"}}},
		{"ask lower case trailing semicolon", "ask how many customers ;  \n", []want{{text: "ask how many customers", ask: true, question: "how many customers"}}},
		{"ask mixed case with tab", "AsK\thow many", []want{{text: "AsK\thow many", ask: true, question: "how many"}}},
		{"metabase comment", "-- Metabase:: userID: 1 queryType: native queryHash: 3f2a\nASK how many orders were placed?",
			[]want{{text: "-- Metabase:: userID: 1 queryType: native queryHash: 3f2a\nASK how many orders were placed?", ask: true, question: "how many orders were placed?"}}},
		{"block comment before ask", "/* a /* nested */ b */ ASK total revenue", []want{{text: "/* a /* nested */ b */ ASK total revenue", ask: true, question: "total revenue"}}},
		{"psql -c select then ask", "select 1; ASK how many customers are there",
			[]want{{text: "select 1"}, {text: "ASK how many customers are there", ask: true, question: "how many customers are there"}}},
		{"apostrophes in unquoted question", "ASK what's the customer's total spend?",
			[]want{{text: "ASK what's the customer's total spend?", ask: true, question: "what's the customer's total spend?"}}},
		{"unquoted question runs to the end, semicolons included", "ASK top 5 products; by revenue; select 2;",
			[]want{{text: "ASK top 5 products; by revenue; select 2", ask: true, question: "top 5 products; by revenue; select 2"}}},
		{"quoted question", "ASK 'what''s the total'; select 2",
			[]want{{text: "ASK 'what''s the total'", ask: true, quoted: true, question: "what's the total"}, {text: "select 2"}}},
		{"quoted question without space", "ASK'how many'", []want{{text: "ASK'how many'", ask: true, quoted: true, question: "how many"}}},
		{"dollar quoted question", "ASK $$what's the customer's name$$; select 3",
			[]want{{text: "ASK $$what's the customer's name$$", ask: true, quoted: true, question: "what's the customer's name"}, {text: "select 3"}}},
		{"named dollar quote", "ASK $q$a $$ b's$q$ -- trailing\n; select 4",
			[]want{{text: "ASK $q$a $$ b's$q$", ask: true, quoted: true, question: "a $$ b's"}, {text: "select 4"}}},
		{"escape string question", `ASK E'what\'s \x41\n'; select 5`,
			[]want{{text: `ASK E'what\'s \x41\n'`, ask: true, quoted: true, question: "what's A"}, {text: "select 5"}}},
		{"double quoted question", `ASK "what's ""new"""`, []want{{text: `ASK "what's ""new"""`, ask: true, quoted: true, question: `what's "new"`}}},
		{"quoted word leading prose stays unquoted", "ASK 'gold' customers by revenue",
			[]want{{text: "ASK 'gold' customers by revenue", ask: true, question: "'gold' customers by revenue"}}},
		{"unterminated quote in question is prose", "ASK 'what's up",
			[]want{{text: "ASK 'what's up", ask: true, question: "'what's up"}}},
		{"empty ask", "ASK;select 1", []want{{text: "ASK", ask: true}, {text: "select 1"}}},
		{"ask followed by a comment", "ASK--x\nhow many", []want{{text: "ASK--x\nhow many", ask: true, question: "--x\nhow many"}}},
		{"bare ask", "  ask  ", []want{{text: "ask", ask: true}}},
		{"explain ask", "EXPLAIN ASK how many orders?", []want{{text: "EXPLAIN ASK how many orders?", ask: true, dry: true, question: "how many orders?"}}},
		{"explain comment ask", "explain /* dry */\n ask 'x'", []want{{text: "explain /* dry */\n ask 'x'", ask: true, dry: true, quoted: true, question: "x"}}},
		{"explain select is not ask", "EXPLAIN select ask from quotes", []want{{text: "EXPLAIN select ask from quotes"}}},
		{"ask as a longer word", "asking; askew; ask_me; ask1", []want{{text: "asking"}, {text: "askew"}, {text: "ask_me"}, {text: "ask1"}}},
		{"ask followed by paren is not a question", "ask(1)", []want{{text: "ask(1)"}}},
		{"no space before dollar quote", "ASK$$x$$", []want{{text: "ASK$$x$$"}}},
		{"semicolons in quotes and comments", `select ';', "a;b", $$;$$, E'\';', $f$ ; $f$ -- ;` + "\n/* ; /* ; */ ; */ from t; ASK x",
			[]want{{text: `select ';', "a;b", $$;$$, E'\';', $f$ ; $f$ -- ;` + "\n/* ; /* ; */ ; */ from t"}, {text: "ASK x", ask: true, question: "x"}}},
		{"standard string backslash does not escape", `select 'a\'; ASK x`, []want{{text: `select 'a\'`}, {text: "ASK x", ask: true, question: "x"}}},
		{"identifier ending in e before quote", `select namee'x'; ask y`, []want{{text: `select namee'x'`}, {text: "ask y", ask: true, question: "y"}}},
		{"parameter is not a dollar quote", "select $1; ask y", []want{{text: "select $1"}, {text: "ask y", ask: true, question: "y"}}},
		{"identifier with dollar", "select a$b$ from t; ask y", []want{{text: "select a$b$ from t"}, {text: "ask y", ask: true, question: "y"}}},
		{"ask in a string is not a question", "select 'ASK me'; select \"ask\"", []want{{text: "select 'ASK me'"}, {text: `select "ask"`}}},
		{"tableau subquery", `SELECT * FROM (ASK how many orders) "Custom SQL Query" LIMIT 0`,
			[]want{{text: `SELECT * FROM (ASK how many orders) "Custom SQL Query" LIMIT 0`, embedded: []string{"how many orders"}}}},
		{"tableau subquery with parentheses and apostrophes", "SELECT * FROM (\nASK what's the total (in euros) per customer's country\n) \"Custom SQL Query\"",
			[]want{{text: "SELECT * FROM (\nASK what's the total (in euros) per customer's country\n) \"Custom SQL Query\"", embedded: []string{"what's the total (in euros) per customer's country"}}}},
		{"quoted subquery", `select * from ( ask 'a)b' ) x join (ASK $$c$$) y on true`,
			[]want{{text: `select * from ( ask 'a)b' ) x join (ASK $$c$$) y on true`, embedded: []string{"a)b", "c"}}}},
		{"cte subquery", `WITH q AS (ASK top customers) SELECT * FROM q`,
			[]want{{text: `WITH q AS (ASK top customers) SELECT * FROM q`, embedded: []string{"top customers"}}}},
		{"column named ask in parentheses", "SELECT (ask - bid) FROM quotes WHERE (ask > 1)",
			[]want{{text: "SELECT (ask - bid) FROM quotes WHERE (ask > 1)"}}},
		{"trailing comments are not part of the statement", "select 1 -- one\n; select 2 /* two */ ; ASK x -- prose\n",
			[]want{{text: "select 1"}, {text: "select 2"}, {text: "ASK x -- prose", ask: true, question: "x -- prose"}}},
		{"comment inside a statement stays", "select /* c */ 1 --x\n", []want{{text: "select /* c */ 1"}}},
		{"begin atomic body", "CREATE OR REPLACE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT CASE WHEN true THEN 1 END; SELECT 2; END; ASK x",
			[]want{{text: "CREATE OR REPLACE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT CASE WHEN true THEN 1 END; SELECT 2; END"}, {text: "ASK x", ask: true, question: "x"}}},
		{"procedure body", "create procedure p() begin atomic insert into t values (1); end;ask y",
			[]want{{text: "create procedure p() begin atomic insert into t values (1); end"}, {text: "ask y", ask: true, question: "y"}}},
		{"begin outside a routine", "BEGIN; ASK x; COMMIT", []want{{text: "BEGIN"}, {text: "ASK x; COMMIT", ask: true, question: "x; COMMIT"}}},
		{"case outside begin", "create function f() returns int as 'select case when true then 1 end'; ask z",
			[]want{{text: "create function f() returns int as 'select case when true then 1 end'"}, {text: "ask z", ask: true, question: "z"}}},
		{"unicode", "select 'é;'; ASK café's revenue", []want{{text: "select 'é;'"}, {text: "ASK café's revenue", ask: true, question: "café's revenue"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Split(tt.in)
			if err != nil {
				t.Fatalf("Split(%q): %v", tt.in, err)
			}
			if g := view(got); !reflect.DeepEqual(g, tt.want) {
				t.Errorf("Split(%q)\n got %+v\nwant %+v", tt.in, g, tt.want)
			}
			checkSpans(t, tt.in, got)
			hasASK := false
			for _, st := range got {
				hasASK = hasASK || st.IsASK || len(st.Embedded) > 0
			}
			if m := MightContainASK([]byte(tt.in)); hasASK && !m {
				t.Errorf("MightContainASK(%q) = false, Split found an ASK", tt.in)
			}
		})
	}
}

func TestSplitEmbeddedSpan(t *testing.T) {
	in := `SELECT * FROM (ASK how many orders) "Custom SQL Query" LIMIT 0`
	sts, err := Split(in)
	if err != nil || len(sts) != 1 || len(sts[0].Embedded) != 1 {
		t.Fatalf("Split: %+v, %v", sts, err)
	}
	e := sts[0].Embedded[0]
	got := in[:e.Start] + "(SELECT count(*) FROM orders)" + in[e.End:]
	if want := `SELECT * FROM (SELECT count(*) FROM orders) "Custom SQL Query" LIMIT 0`; got != want {
		t.Errorf("replaced: %q, want %q", got, want)
	}
}

func TestSplitUnterminated(t *testing.T) {
	tests := []struct {
		in       string
		what     string
		offset   int
		lastText string
		n        int
	}{
		{"select 'abc", "quoted string", 7, "select 'abc", 1},
		{"select 1; select E'a\\'", "quoted string", 17, "select E'a\\'", 2},
		{`select "abc`, "quoted identifier", 7, `select "abc`, 1},
		{"select $x$ abc $y$", "dollar-quoted string", 7, "select $x$ abc $y$", 1},
		{"select 1 /* a /* b */", "/* comment", 9, "select 1 /* a /* b */", 1},
		{"ASK 'a'; /* open", "/* comment", 9, "/* open", 2},
		{"select * from (ask how many", "parenthesised ASK", 14, "select * from (ask how many", 1},
	}
	for _, tt := range tests {
		sts, err := Split(tt.in)
		var se *SyntaxError
		if !errors.Is(err, ErrUnterminated) || !errors.As(err, &se) {
			t.Errorf("Split(%q) error = %v, want an unterminated error", tt.in, err)
			continue
		}
		if se.What != tt.what || se.Offset != tt.offset {
			t.Errorf("Split(%q) error = %+v, want %s at %d", tt.in, se, tt.what, tt.offset)
		}
		if len(sts) != tt.n || sts[len(sts)-1].Text != tt.lastText || sts[len(sts)-1].End != len(tt.in) {
			t.Errorf("Split(%q) statements = %+v, want %d ending with %q at the end", tt.in, sts, tt.n, tt.lastText)
		}
	}
}

func TestUnescape(t *testing.T) {
	tests := map[string]string{
		`a\bb`:             "a\bb",
		`\f\n\r\t`:         "\f\n\r\t",
		`\101\060\7`:       "A0\a",
		`\x41\x4g\xg`:      "A\x04gxg",
		`\u00e9\U0001F600`: "é😀",
		`\uD800`:           "\uFFFD",
		`\u12`:             "u12",
		`it''s \\ \q`:      `it's \ q`,
		`end\`:             `end\`,
	}
	for in, want := range tests {
		if got := unescape(in); got != want {
			t.Errorf("unescape(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestMightContainASK(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"ASK how many", true},
		{"  ask\thow many", true},
		{"ask", true},
		{"select 1;ask x", true},
		{"-- Metabase:: userID: 1\nASK x", true},
		{"-- c\rASK x", true},
		{"/* c */ASK x", true},
		{"EXPLAIN ASK x", true},
		{"explain/**/ask x", true},
		{"select * from (ASK x) q", true},
		{"ASK'x'", true},
		{"ASK;", true},
		{"select * from tasks", false},
		{"select ask, bid from quotes", false},
		{"select x from t where ask > 1", false},
		{"select basket from t", false},
		{"select 1 ask_me", false},
		{"asking", false},
		{"ASK(1)", false},
		{"notexplain ask x", false},
		{"TEACH 'q' AS SELECT 1", true},
		{"select 1;\nteach $$q$$ as select 1", true},
		{"/* c */TeAcH 'q' as select 1", true},
		{"xteach 'q' as select 1", false},
		{"teacher", false},
		{"select teach from t", false},
		{"select teach_me from t", false},
		{"", false},
	}
	for _, tt := range tests {
		if got := MightContainASK([]byte(tt.in)); got != tt.want {
			t.Errorf("MightContainASK(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

// checkSpans checks the invariants of Split's result against its input: spans in order and
// within the text, Text equal to the span, nothing but white space, comments and ';' between
// statements, and each statement splitting alone into itself.
func checkSpans(t *testing.T, in string, sts []Statement) {
	t.Helper()
	prev := 0
	for i, st := range sts {
		if st.Start < prev || st.End < st.Start || st.End > len(in) {
			t.Fatalf("statement %d span [%d,%d) out of order (previous end %d, len %d)", i, st.Start, st.End, prev, len(in))
		}
		if st.Text != in[st.Start:st.End] {
			t.Fatalf("statement %d Text %q != span %q", i, st.Text, in[st.Start:st.End])
		}
		if trimSpace(st.Text) != st.Text || st.Text == "" {
			t.Fatalf("statement %d Text %q is empty or not trimmed", i, st.Text)
		}
		checkGap(t, in[prev:st.Start])
		for _, e := range st.Embedded {
			if e.Start < st.Start || e.End > st.End || e.Start >= e.End || in[e.Start] != '(' || in[e.End-1] != ')' {
				t.Fatalf("statement %d embedded span [%d,%d) not a parenthesised group inside [%d,%d)", i, e.Start, e.End, st.Start, st.End)
			}
		}
		if !st.IsASK && i+1 < len(sts) {
			// Non-ASK statements can be joined with ";" and split again to the same statements.
			joined := st.Text + ";" + sts[i+1].Text
			if again, err := Split(joined); err != nil || len(again) != 2 || again[0].Text != st.Text || again[1].Text != sts[i+1].Text {
				t.Fatalf("statements %d, %d joined as %q split into %+v, %v", i, i+1, joined, again, err)
			}
		}
		again, err := Split(st.Text)
		if err != nil || len(again) != 1 {
			t.Fatalf("statement %d %q splits alone into %+v, %v", i, st.Text, again, err)
		}
		a := again[0]
		if a.Text != st.Text || a.IsASK != st.IsASK || a.DryRun != st.DryRun || a.Question != st.Question || a.Quoted != st.Quoted || len(a.Embedded) != len(st.Embedded) {
			t.Fatalf("statement %d %+v splits alone into %+v", i, st, a)
		}
		prev = st.End
	}
	checkGap(t, in[prev:])
}

// checkGap checks that text between statements holds only white space, comments and ';'.
func checkGap(t *testing.T, gap string) {
	t.Helper()
	i := 0
	for {
		j, err := skipSpaceAndComments(gap, i)
		if err != nil {
			t.Fatalf("gap %q: %v", gap, err)
		}
		if j == len(gap) {
			return
		}
		if gap[j] != ';' {
			t.Fatalf("gap %q between statements holds %q", gap, gap[j:])
		}
		i = j + 1
	}
}

func TestSplitTeachAndFollowUp(t *testing.T) {
	type tw struct {
		text     string
		ask      bool
		followUp bool
		teach    bool
		question string
		sql      string
	}
	tests := []struct {
		name string
		in   string
		want []tw
	}{
		{"teach dollar quoted", "TEACH $$what's the total?$$ AS SELECT sum(total) FROM orders;",
			[]tw{{text: "TEACH $$what's the total?$$ AS SELECT sum(total) FROM orders", teach: true, question: "what's the total?", sql: "SELECT sum(total) FROM orders"}}},
		{"teach quoted, lower case, comments, then more", "teach 'how many' /* c */ as -- x\n select ';' ; select 2",
			[]tw{{text: "teach 'how many' /* c */ as -- x\n select ';'", teach: true, question: "how many", sql: "select ';'"}, {text: "select 2"}}},
		{"teach with escape string", `TEACH E'it\'s' AS SELECT 1`, []tw{{text: `TEACH E'it\'s' AS SELECT 1`, teach: true, question: "it's", sql: "SELECT 1"}}},
		{"teach multi-statement SQL ends at the first statement", "TEACH 'q' AS SELECT 1; DELETE FROM t",
			[]tw{{text: "TEACH 'q' AS SELECT 1", teach: true, question: "q", sql: "SELECT 1"}, {text: "DELETE FROM t"}}},
		{"teach unquoted question is malformed", "TEACH how many AS SELECT 1", []tw{{text: "TEACH how many AS SELECT 1", teach: true}}},
		{"teach without AS is malformed", "TEACH 'q' SELECT 1", []tw{{text: "TEACH 'q' SELECT 1", teach: true}}},
		{"teach without SQL is malformed", "TEACH 'q' AS ;select 1", []tw{{text: "TEACH 'q' AS", teach: true}, {text: "select 1"}}},
		{"teacher is no statement of ours", "teacher 'q' as select 1", []tw{{text: "teacher 'q' as select 1"}}},
		{"follow-up with and", "ASK and only for cancelled orders", []tw{{text: "ASK and only for cancelled orders", ask: true, followUp: true, question: "and only for cancelled orders"}}},
		{"follow-up with But, quoted", "ASK $$But only in 2024$$", []tw{{text: "ASK $$But only in 2024$$", ask: true, followUp: true, question: "But only in 2024"}}},
		{"andorra is no follow-up", "ASK andorra's customers", []tw{{text: "ASK andorra's customers", ask: true, question: "andorra's customers"}}},
		{"and later in the question is no follow-up", "ASK orders and customers", []tw{{text: "ASK orders and customers", ask: true, question: "orders and customers"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Split(tt.in)
			if err != nil {
				t.Fatalf("Split(%q): %v", tt.in, err)
			}
			var g []tw
			for _, st := range got {
				w := tw{text: st.Text, ask: st.IsASK, followUp: st.FollowUp, teach: st.IsTeach, sql: st.TeachSQL}
				if st.IsASK || st.IsTeach {
					w.question = st.Question
				}
				g = append(g, w)
			}
			if !reflect.DeepEqual(g, tt.want) {
				t.Errorf("Split(%q)\n got %+v\nwant %+v", tt.in, g, tt.want)
			}
			checkSpans(t, tt.in, got)
			special := false
			for _, st := range got {
				special = special || st.IsASK || st.IsTeach
			}
			if special && !MightContainASK([]byte(tt.in)) {
				t.Errorf("MightContainASK(%q) = false", tt.in)
			}
		})
	}
}
