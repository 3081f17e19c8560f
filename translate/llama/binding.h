// Small C helpers for the Go binding: they keep per-token work on the C side of the cgo boundary
// (one cgo call per step instead of one per vocabulary entry).
#pragma once
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include "llama.h"

// A flag set from Go (another goroutine) and read by llama.cpp's abort and progress callbacks.
static inline int *pgask_flag_new(void) { return (int *)calloc(1, sizeof(int)); }
static inline void pgask_flag_set(int *f, int v) { __atomic_store_n(f, v, __ATOMIC_SEQ_CST); }
static inline bool pgask_abort_cb(void *data) { return __atomic_load_n((int *)data, __ATOMIC_SEQ_CST) != 0; }
static inline bool pgask_progress_cb(float progress, void *data) {
	(void)progress;
	return __atomic_load_n((int *)data, __ATOMIC_SEQ_CST) == 0;
}

static inline void pgask_set_abort(struct llama_context_params *p, int *flag) {
	p->abort_callback = pgask_abort_cb;
	p->abort_callback_data = flag;
}
static inline void pgask_set_progress(struct llama_model_params *p, int *flag) {
	p->progress_callback = pgask_progress_cb;
	p->progress_callback_user_data = flag;
}

// pgask_batch_fill puts n tokens of sequence 0 at positions pos0.. into b, asking for logits of
// the last one only when last_logits.
static inline void pgask_batch_fill(struct llama_batch *b, const llama_token *toks, int n, int pos0, bool last_logits) {
	for (int i = 0; i < n; i++) {
		b->token[i] = toks[i];
		b->pos[i] = pos0 + i;
		b->n_seq_id[i] = 1;
		b->seq_id[i][0] = 0;
		b->logits[i] = 0;
	}
	if (last_logits && n > 0) {
		b->logits[n - 1] = 1;
	}
	b->n_tokens = n;
}

static inline llama_token pgask_argmax(const float *logits, int n) {
	int best = 0;
	for (int i = 1; i < n; i++) {
		if (logits[i] > logits[best]) best = i;
	}
	return best;
}

// pgask_grammar_allows asks the grammar sampler whether tok may come next, without touching the
// rest of the vocabulary (the lazy step: most greedy choices are already valid).
static inline bool pgask_grammar_allows(struct llama_sampler *g, llama_token tok, float logit) {
	llama_token_data d = {tok, logit, 0.0f};
	llama_token_data_array a = {&d, 1, -1, false};
	llama_sampler_apply(g, &a);
	return a.size == 1 && d.logit != -INFINITY;
}

static inline void pgask_fill(llama_token_data *buf, const float *logits, int n, llama_token_data_array *a) {
	for (int i = 0; i < n; i++) {
		buf[i].id = i;
		buf[i].logit = logits[i];
		buf[i].p = 0.0f;
	}
	a->data = buf;
	a->size = (size_t)n;
	a->selected = -1;
	a->sorted = false;
}

// pgask_pick returns the token a sampler chain (or, when chain is NULL, the greedy choice) selects
// from the logits, filtered through grammar g first when g is not NULL. -1: no token is allowed.
static inline llama_token pgask_pick(struct llama_sampler *g, struct llama_sampler *chain, const float *logits,
                                     llama_token_data *buf, int n) {
	llama_token_data_array a;
	pgask_fill(buf, logits, n, &a);
	if (g != NULL) {
		llama_sampler_apply(g, &a);
	}
	if (chain != NULL) {
		llama_sampler_apply(chain, &a);
		if (a.selected < 0 || a.selected >= (int64_t)a.size || a.data[a.selected].logit == -INFINITY) return -1;
		return a.data[a.selected].id;
	}
	int best = -1;
	for (size_t i = 0; i < a.size; i++) {
		if (a.data[i].logit == -INFINITY) continue;
		if (best < 0 || a.data[i].logit > a.data[best].logit) best = (int)i;
	}
	return best < 0 ? -1 : a.data[best].id;
}

// pgask_pick_topk is the greedy fallback when the best token breaks grammar g: it tries the k
// tokens of highest logit, best first, one at a time, and returns the first that g allows, or -1
// when none does (the caller then filters the whole vocabulary). With a large vocabulary (Gemma's
// 262,144 tokens) this is the difference between a few single-token grammar checks and running
// every candidate through the grammar at every step; the token chosen is the same.
#define PGASK_TOPK_MAX 64
static inline llama_token pgask_pick_topk(struct llama_sampler *g, const float *logits, int n, int k) {
	int idx[PGASK_TOPK_MAX];
	int m = 0;
	if (k > PGASK_TOPK_MAX) k = PGASK_TOPK_MAX;
	for (int i = 0; i < n; i++) {
		float v = logits[i];
		if (m == k && v <= logits[idx[m - 1]]) continue;
		int j = m < k ? m++ : m - 1;
		while (j > 0 && logits[idx[j - 1]] < v) {
			idx[j] = idx[j - 1];
			j--;
		}
		idx[j] = i;
	}
	for (int j = 0; j < m; j++) {
		if (pgask_grammar_allows(g, idx[j], logits[idx[j]])) return idx[j];
	}
	return -1;
}

// pgask_threadpool_new makes a persistent thread pool (as llama-bench does) so that a decode does
// not start and join n-1 threads every token. poll: 0 = sleep at once between graphs, 100 = spin.
static inline struct ggml_threadpool *pgask_threadpool_new(int n_threads, int poll) {
	struct ggml_threadpool_params p = ggml_threadpool_params_default(n_threads);
	p.poll = (uint32_t)poll;
	return ggml_threadpool_new(&p);
}
