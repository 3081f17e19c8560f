package translate

import (
	"context"
	"strings"
	"time"

	"github.com/pgask/pgask/introspect"
)

// Candidates samples n answers to req.Question for voting by execution: each generation
// samples (temperature repairTemperature, seeds 1…n, so the same question gets the same
// candidates) under the grammar from the same prompt, which an engine keeping its KV prefix
// (the llama engine) evaluates once. It returns the SQL of the candidates that pass the static
// checks and req.Checker, in order and with repeats (a repeat is a vote), and what the
// generations cost. Candidates are not cached. An unsafe candidate is dropped like an invalid
// one; an engine or context error ends the sampling with the candidates so far and the error.
func (t *Translator) Candidates(ctx context.Context, req Request, n int) ([]string, Result, error) {
	start := time.Now()
	var res Result
	question := strings.TrimSpace(neutraliseSpecialTokens(req.Question))
	if question == "" || n <= 0 {
		return nil, res, nil
	}
	if t.opts.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, t.opts.Timeout)
		defer cancel()
	}
	fp := req.SchemaKey
	if fp == "" {
		fp = SchemaFingerprint(req.Schema, req.SchemaDDL)
	}
	grammar := t.grammar(fp, req.Schema, &res.Timings)
	data := PromptData{Question: question, Schema: req.SchemaDDL, Instructions: t.opts.Instructions}
	if t.opts.Template.SchemaFormat == SchemaMSchema && req.Schema != nil {
		data.Schema = introspect.RenderMSchema(req.Schema)
	}
	t0 := time.Now()
	prompt, err := t.prompt(data)
	res.Timings.Render += time.Since(t0)
	if err != nil {
		return nil, res, newError(ErrEngine, 0, "", err, "render prompt")
	}
	var out []string
	for i := 1; i <= n; i++ {
		res.Attempts++
		gen, err := t.generate(ctx, prompt, grammar, uint32(i), &res)
		if err != nil {
			res.Timings.Total = time.Since(start)
			return out, res, t.engineError(ctx, res.Attempts, err)
		}
		sql, err := t.extract(gen.Text)
		if err != nil {
			continue
		}
		t0 := time.Now()
		problem := CheckStatic(sql, t.opts.AllowFunctions)
		if problem == nil && req.Checker != nil {
			problem = req.Checker.Explain(ctx, sql)
			if ctx.Err() != nil {
				res.Timings.Check += time.Since(t0)
				res.Timings.Total = time.Since(start)
				return out, res, t.engineError(ctx, res.Attempts, ctx.Err())
			}
			if problem != nil && !repairable(problem) {
				// The check itself could not run (connection, permissions): stop here.
				res.Timings.Check += time.Since(t0)
				res.Timings.Total = time.Since(start)
				return out, res, newError(ErrCheck, res.Attempts, sql, problem, "")
			}
		}
		res.Timings.Check += time.Since(t0)
		if problem != nil {
			t.log.DebugContext(ctx, "translate: a vote candidate failed its check", "candidate", i, "sql", sql, "err", problem)
			continue
		}
		out = append(out, sql)
	}
	res.Timings.Total = time.Since(start)
	return out, res, nil
}
