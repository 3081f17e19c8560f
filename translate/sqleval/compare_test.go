package sqleval

import "testing"

// res builds a Result from a header and rows; the cell "NULL" stands for NULL.
func res(cols string, rows ...[]string) Result {
	r := Result{Columns: splitCols(cols)}
	for _, row := range rows {
		vals := make([]*string, len(row))
		for i, v := range row {
			if v != "NULL" {
				v := v
				vals[i] = &v
			}
		}
		r.Rows = append(r.Rows, vals)
	}
	return r
}

func splitCols(s string) []string {
	if s == "" {
		return nil
	}
	var out []string
	start := 0
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == ',' {
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return out
}

func row(v ...string) []string { return v }

func TestCompare(t *testing.T) {
	tests := []struct {
		name    string
		gold    Result
		got     Result
		ordered bool
		want    Match
	}{
		{"identical", res("a,b", row("1", "x"), row("2", "y")), res("a,b", row("1", "x"), row("2", "y")), false, MatchExact},
		{"names ignored when positions agree", res("a,b", row("1", "x")), res("n,m", row("1", "x")), false, MatchExact},
		{"both empty same width", res("a"), res("b"), false, MatchExact},
		{"empty vs empty of other width", res("a"), res("a,b"), false, NoMatch},
		{"row order differs, unordered question", res("a", row("1"), row("2")), res("a", row("2"), row("1")), false, MatchNormalized},
		{"row order differs, ordered question", res("a", row("1"), row("2")), res("a", row("2"), row("1")), true, NoMatch},
		{"duplicates dropped", res("a", row("1"), row("2")), res("a", row("1"), row("2"), row("1")), false, MatchNormalized},
		{"duplicates dropped keeping order", res("a", row("1"), row("2")), res("a", row("1"), row("1"), row("2")), true, MatchNormalized},
		{"columns ordered by name", res("a,b", row("1", "x")), res("b,a", row("x", "1")), false, MatchNormalized},
		{"swapped columns with other names match as subset", res("a,b", row("1", "x")), res("p,q", row("x", "1")), false, MatchSubset},
		{"extra generated column", res("id,total", row("1", "10"), row("2", "20")), res("id,name,sum", row("2", "bob", "20"), row("1", "al", "10")), false, MatchSubset},
		{"extra generated row", res("a", row("1")), res("a", row("1"), row("2")), false, NoMatch},
		{"missing row", res("a", row("1"), row("2")), res("a", row("1")), false, NoMatch},
		{"missing column", res("a,b", row("1", "2")), res("a", row("1")), false, NoMatch},
		{"subset needs distinct columns", res("a,b", row("1", "1")), res("c,d", row("1", "2")), false, NoMatch},
		{"subset with equal gold columns uses two generated ones", res("a,b", row("1", "1")), res("c,d,e", row("1", "2", "1")), false, MatchSubset},
		{"subset keeps rows together", res("a,b", row("1", "x"), row("2", "y")), res("c,d,e", row("1", "y", "0"), row("2", "x", "0")), false, NoMatch},
		{"empty gold never a subset", res("a"), res("a,b"), false, NoMatch},
		{"subset ordered respects order", res("a", row("1"), row("2")), res("x,y", row("q", "2"), row("r", "1")), true, NoMatch},
		{"subset ordered in order", res("a", row("1"), row("2")), res("x,y", row("q", "1"), row("r", "2")), true, MatchSubset},
		{"numeric scale", res("avg", row("2.50")), res("avg", row("2.5")), false, MatchExact},
		{"numeric vs float8 within tolerance", res("avg", row("2.3333333333333333")), res("avg", row("2.3333333333333335")), false, MatchExact},
		{"integer vs decimal", res("n", row("3")), res("n", row("3.000")), false, MatchExact},
		{"relative tolerance", res("n", row("100000")), res("n", row("100000.5")), false, MatchExact},
		{"outside tolerance", res("n", row("1.0")), res("n", row("1.001")), false, NoMatch},
		{"exponent", res("n", row("1e+06")), res("n", row("1000000")), false, MatchExact},
		{"infinity and nan", res("n,m", row("Infinity", "NaN")), res("n,m", row("Infinity", "NaN")), false, MatchExact},
		{"infinity vs large", res("n", row("Infinity")), res("n", row("1e308")), false, NoMatch},
		{"text is compared exactly", res("s", row("Bob")), res("s", row("bob")), false, NoMatch},
		{"text with spaces is not a number", res("s", row(" 1")), res("s", row("1")), false, NoMatch},
		{"null equals null", res("a,b", row("1", "NULL")), res("a,b", row("1", "NULL")), false, MatchExact},
		{"null is not empty string", res("a", row("NULL")), res("a", row("")), false, NoMatch},
		{"nulls sort last", res("a,b", row("NULL", "1"), row("2", "2")), res("a,b", row("2", "2"), row("NULL", "1")), false, MatchNormalized},
		{"numbers sort by value", res("n,s", row("10", "a"), row("9", "b")), res("n,s", row("9", "b"), row("10", "a")), false, MatchNormalized},
		{"dates are text", res("d", row("2023-01-01")), res("d", row("2023-01-01 00:00:00")), false, NoMatch},
		{"short row reads as null", Result{Columns: []string{"a", "b"}, Rows: [][]*string{{ptr("1")}}}, res("a,b", row("1", "NULL")), false, MatchExact},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Compare(tt.gold, tt.got, tt.ordered); got != tt.want {
				t.Errorf("Compare = %q, want %q", got, tt.want)
			}
		})
	}
}

func ptr(s string) *string { return &s }
