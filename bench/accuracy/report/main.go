// Command report turns the per-question JSONL files of bench/accuracy/run.sh into the Markdown
// tables of the accuracy benchmark: one row per configuration of a model (accuracy, executable
// rate, "I do not know" rate, latency split by phase, tokens, throughput, grammar fallbacks),
// each paired with the baseline question by question (won / lost, for correct answers and for
// executable ones), and the accuracy per query_category.
//
//	report -baseline default results/gemma3-270m/default.jsonl results/gemma3-270m/off.jsonl …
//
// A configuration is named by its file's base name without .jsonl. Records are pgask eval's
// (sqleval.Record, JSONL) or the anchor's (bench/accuracy/anchor.sh: file, line, correct,
// generated_sql, error, latency_ms); a question is keyed by its file and line.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/pgask/pgask/translate/sqleval"
)

// rec is one answer, from either kind of file.
type rec struct {
	sqleval.Record
}

type config struct {
	name string
	recs map[string]rec // by key
}

func main() {
	baseline := flag.String("baseline", "", "configuration the others are paired with (default: the first file)")
	title := flag.String("title", "", "heading printed above the tables")
	flag.Parse()
	if flag.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "usage: report [-baseline NAME] [-title TEXT] CONFIG.jsonl ...")
		os.Exit(2)
	}
	var cfgs []config
	for _, p := range flag.Args() {
		c, err := load(p)
		if err != nil {
			fmt.Fprintln(os.Stderr, "report:", err)
			os.Exit(1)
		}
		cfgs = append(cfgs, c)
	}
	base := 0
	if *baseline != "" {
		base = slices.IndexFunc(cfgs, func(c config) bool { return c.name == *baseline })
		if base < 0 {
			fmt.Fprintf(os.Stderr, "report: no configuration %q\n", *baseline)
			os.Exit(2)
		}
	}
	if err := write(os.Stdout, *title, cfgs, base); err != nil {
		fmt.Fprintln(os.Stderr, "report:", err)
		os.Exit(1)
	}
}

// load reads one configuration's JSONL file; records are keyed by question file and line.
func load(path string) (config, error) {
	f, err := os.Open(path)
	if err != nil {
		return config{}, err
	}
	defer f.Close()
	c := config{name: strings.TrimSuffix(filepath.Base(path), ".jsonl"), recs: map[string]rec{}}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for n := 1; sc.Scan(); n++ {
		if strings.TrimSpace(sc.Text()) == "" {
			continue
		}
		var r rec
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			return config{}, fmt.Errorf("%s:%d: %w", path, n, err)
		}
		c.recs[fmt.Sprintf("%s:%d", r.File, r.Line)] = r
	}
	return c, sc.Err()
}

// unanswered reports whether the model said it could not answer.
func unanswered(r rec) bool {
	if r.Ask != nil && r.Ask.Outcome == "unanswerable" {
		return true
	}
	e := strings.ToLower(r.Error)
	return strings.Contains(e, "i do not know") || strings.Contains(e, "cannot answer") ||
		strings.HasPrefix(strings.ToLower(strings.TrimSpace(r.GeneratedSQL)), "i do not know")
}

// executable reports whether the answer was SQL that passed its checks and ran.
func executable(r rec) bool { return r.Error == "" && strings.TrimSpace(r.GeneratedSQL) != "" }

type row struct {
	name                         string
	n, correct, exec, idk        int
	won, lost                    int
	execWon, execLost            int
	lat                          []float64
	introspect, prompt, gen, chk []float64
	exe                          []float64
	promptTok, genTok, reused    int
	genMS                        float64
	fallback                     int
	hasAsk                       bool
}

func summarize(c config, base config, keys []string) row {
	r := row{name: c.name}
	for _, k := range keys {
		x, ok := c.recs[k]
		if !ok {
			continue
		}
		r.n++
		if x.Correct {
			r.correct++
		}
		if executable(x) {
			r.exec++
		}
		if unanswered(x) {
			r.idk++
		}
		if b, ok := base.recs[k]; ok {
			switch {
			case x.Correct && !b.Correct:
				r.won++
			case !x.Correct && b.Correct:
				r.lost++
			}
			switch xe, be := executable(x), executable(b); {
			case xe && !be:
				r.execWon++
			case !xe && be:
				r.execLost++
			}
		}
		r.lat = append(r.lat, x.LatencyMS)
		if a := x.Ask; a != nil {
			r.hasAsk = true
			r.introspect = append(r.introspect, a.IntrospectMS)
			r.prompt = append(r.prompt, a.PromptEvalMS)
			r.gen = append(r.gen, a.GenerationMS)
			r.chk = append(r.chk, a.CheckMS)
			r.exe = append(r.exe, a.ExecuteMS)
			r.promptTok += a.PromptTokens
			r.reused += a.ReusedTokens
			r.genTok += a.GeneratedTokens
			r.genMS += a.GenerationMS
			r.fallback += a.GrammarFallback
		}
	}
	return r
}

func pct(a, n int) string {
	if n == 0 {
		return "–"
	}
	return fmt.Sprintf("%.1f%%", 100*float64(a)/float64(n))
}

func quantile(xs []float64, q float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(xs)
	sort.Float64s(s)
	i := int(math.Ceil(q*float64(len(s)))) - 1
	return s[max(0, min(i, len(s)-1))]
}

func secs(xs []float64) string {
	if len(xs) == 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f / %.2f", quantile(xs, 0.5)/1000, quantile(xs, 0.9)/1000)
}

func write(w io.Writer, title string, cfgs []config, base int) error {
	keySet := map[string]bool{}
	for _, c := range cfgs {
		for k := range c.recs {
			keySet[k] = true
		}
	}
	// Paired: only questions every configuration answered are compared.
	var keys []string
	for k := range keySet {
		all := true
		for _, c := range cfgs {
			if _, ok := c.recs[k]; !ok {
				all = false
			}
		}
		if all {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	b := bufio.NewWriter(w)
	if title != "" {
		fmt.Fprintf(b, "### %s\n\n", title)
	}
	fmt.Fprintf(b, "%d questions answered by every configuration; won / lost are paired with `%s`, question by question, for correct answers and, in brackets, for executable ones.\n\n", len(keys), cfgs[base].name)
	fmt.Fprintln(b, "| configuration | correct | accuracy | won / lost | executable (won / lost) | I do not know | latency p50 / p90 (s) | introspect | prompt eval | generation | check | execution | prompt tok (reused) | gen tok | gen tok/s | grammar fallbacks / tok |")
	fmt.Fprintln(b, "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
	for i, c := range cfgs {
		r := summarize(c, cfgs[base], keys)
		wl := fmt.Sprintf("+%d / −%d", r.won, r.lost)
		ex := fmt.Sprintf("%s (+%d / −%d)", pct(r.exec, r.n), r.execWon, r.execLost)
		if i == base {
			wl, ex = "baseline", pct(r.exec, r.n)
		}
		phase := func(xs []float64) string {
			if !r.hasAsk {
				return "–"
			}
			return secs(xs)
		}
		tok, gtok, tps, fb := "–", "–", "–", "–"
		if r.hasAsk && r.n > 0 {
			tok = fmt.Sprintf("%d (%s)", r.promptTok/r.n, pct(r.reused, r.promptTok))
			gtok = fmt.Sprintf("%d", r.genTok/r.n)
			if r.genMS > 0 {
				tps = fmt.Sprintf("%.1f", float64(r.genTok)/(r.genMS/1000))
			}
			if r.genTok > 0 {
				fb = fmt.Sprintf("%.3f", float64(r.fallback)/float64(r.genTok))
			}
		}
		fmt.Fprintf(b, "| %s | %d/%d | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n",
			c.name, r.correct, r.n, pct(r.correct, r.n), wl, ex, pct(r.idk, r.n), secs(r.lat),
			phase(r.introspect), phase(r.prompt), phase(r.gen), phase(r.chk), phase(r.exe), tok, gtok, tps, fb)
	}
	// Accuracy per category.
	cats := map[string]bool{}
	for _, k := range keys {
		cats[cfgs[0].recs[k].Category] = true
	}
	var catList []string
	for c := range cats {
		catList = append(catList, c)
	}
	sort.Strings(catList)
	fmt.Fprintf(b, "\nAccuracy per query_category (correct / questions):\n\n| query_category |")
	for _, c := range cfgs {
		fmt.Fprintf(b, " %s |", c.name)
	}
	fmt.Fprintf(b, "\n|---|%s\n", strings.Repeat("---|", len(cfgs)))
	for _, cat := range catList {
		fmt.Fprintf(b, "| %s |", cat)
		for _, c := range cfgs {
			n, ok := 0, 0
			for _, k := range keys {
				if x := c.recs[k]; x.Category == cat {
					n++
					if x.Correct {
						ok++
					}
				}
			}
			fmt.Fprintf(b, " %d/%d |", ok, n)
		}
		fmt.Fprintln(b)
	}
	fmt.Fprintln(b)
	return b.Flush()
}
