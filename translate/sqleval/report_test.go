package sqleval

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestSummarize(t *testing.T) {
	var recs []Record
	// 10 answers in category a (latencies 1..10 ms, 7 correct), 2 in b (1 correct, 1 error).
	for i := 1; i <= 10; i++ {
		recs = append(recs, Record{Category: "a", Correct: i <= 7, ExactMatch: i <= 5, LatencyMS: float64(i)})
	}
	recs = append(recs, Record{Category: "b", Correct: true, ExactMatch: true, LatencyMS: 100},
		Record{Category: "b", Error: "boom", LatencyMS: 0.5})
	s := Summarize(recs)
	if s.Overall != (Tally{Total: 12, Correct: 8}) || s.Exact != 6 || s.Errors != 1 {
		t.Errorf("overall %+v exact %d errors %d", s.Overall, s.Exact, s.Errors)
	}
	wantCat := []Tally{{Category: "a", Total: 10, Correct: 7}, {Category: "b", Total: 2, Correct: 1}}
	if len(s.ByCategory) != 2 || s.ByCategory[0] != wantCat[0] || s.ByCategory[1] != wantCat[1] {
		t.Errorf("by category %+v, want %+v", s.ByCategory, wantCat)
	}
	// sorted latencies: 0.5 1 2 ... 10 100 (12 values): ranks 6, 11, 12.
	if s.P50 != 5*time.Millisecond || s.P90 != 10*time.Millisecond || s.P99 != 100*time.Millisecond {
		t.Errorf("percentiles %v %v %v", s.P50, s.P90, s.P99)
	}
	if acc := s.ByCategory[0].Accuracy(); acc != 0.7 {
		t.Errorf("accuracy %v", acc)
	}
	var buf bytes.Buffer
	if err := s.WriteText(&buf); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"a        7     10     70.0%", "overall  8     12     66.7%", "p50 5ms, p90 10ms, p99 100ms"} {
		if !strings.Contains(strings.Join(strings.Fields(buf.String()), " "), strings.Join(strings.Fields(want), " ")) {
			t.Errorf("summary text lacks %q:\n%s", want, buf.String())
		}
	}
	if e := Summarize(nil); e.Overall.Accuracy() != 0 || e.P99 != 0 {
		t.Errorf("empty summary %+v", e)
	}
}

func TestNewRecord(t *testing.T) {
	q := Question{DBName: "broker", Category: "c", Question: "how many?", Query: "SELECT 1; SELECT 2", Line: 3}
	ok := NewRecord(q, "SELECT 2", Outcome{Correct: true, Match: MatchNormalized, Gold: "SELECT 2", Rows: 1}, 1500*time.Microsecond, nil)
	if !ok.Correct || !ok.ExactMatch || ok.GoldQuery != "SELECT 2" || ok.LatencyMS != 1.5 || ok.Error != "" || ok.Line != 3 {
		t.Errorf("record %+v", ok)
	}
	genErr := NewRecord(q, "SELEC", Outcome{Gold: "SELECT 1", GenErr: errors.New("syntax error")}, time.Second, nil)
	if genErr.Correct || genErr.Error != "syntax error" {
		t.Errorf("record %+v", genErr)
	}
	failed := NewRecord(q, "", Outcome{}, time.Second, errors.New("model said: I do not know"))
	if failed.Correct || failed.GoldQuery != "SELECT 1" || failed.Error == "" {
		t.Errorf("record %+v", failed)
	}
	b, err := json.Marshal(ok)
	if err != nil {
		t.Fatal(err)
	}
	var back map[string]any
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"db_name", "query_category", "question", "gold_query", "generated_sql", "correct", "exact_match", "match", "latency_ms"} {
		if _, ok := back[k]; !ok {
			t.Errorf("JSONL record lacks %q: %s", k, b)
		}
	}
}
