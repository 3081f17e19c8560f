package main

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/pgask/pgask/translate/sqleval"
)

// answers builds a configuration from one verdict a question: c correct (and executable), x
// executable but wrong, e an error.
func answers(name, verdicts string) config {
	c := config{name: name, recs: map[string]rec{}}
	for i, v := range verdicts {
		r := sqleval.Record{File: "q.csv", Line: i + 1, GeneratedSQL: "SELECT 1"}
		switch v {
		case 'c':
			r.Correct = true
		case 'e':
			r.Error = "ERROR: column does not exist"
		}
		c.recs[fmt.Sprintf("%s:%d", r.File, r.Line)] = rec{r}
	}
	return c
}

// TestPairedWonLost: correct and executable answers are each paired with the baseline question
// by question, so a configuration with as many executable answers as the baseline can still
// show the ones it won and lost.
func TestPairedWonLost(t *testing.T) {
	base := answers("default", "cxxee")
	tests := []struct {
		name, verdicts string
		want           string // the row's correct, accuracy, won / lost and executable cells
	}{
		{"same", "cxxee", "| same | 1/5 | 20.0% | +0 / −0 | 60.0% (+0 / −0) |"},
		{"swapped", "exxec", "| swapped | 1/5 | 20.0% | +1 / −1 | 60.0% (+1 / −1) |"},
		{"better", "ccxxe", "| better | 2/5 | 40.0% | +1 / −0 | 80.0% (+1 / −0) |"},
		{"worse", "eeeee", "| worse | 0/5 | 0.0% | +0 / −1 | 0.0% (+0 / −3) |"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			if err := write(&out, "", []config{base, answers(tt.name, tt.verdicts)}, 0); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(out.String(), "| default | 1/5 | 20.0% | baseline | 60.0% |") {
				t.Errorf("baseline row missing:\n%s", out.String())
			}
			if !strings.Contains(out.String(), tt.want) {
				t.Errorf("want a row starting %q in:\n%s", tt.want, out.String())
			}
		})
	}
}
