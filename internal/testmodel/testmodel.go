// Package testmodel writes tiny random-weight llama GGUF files for tests and benchmarks.
//
// The files are real llama-architecture models that llama.cpp loads and runs: an SPM vocabulary
// (<unk>, <s>, </s>, the 256 byte tokens, printable ASCII characters and a list of words, SQL
// keywords among them, each reachable by the SPM merges), f32 norms and f32, f16 or Q8_0 weight
// matrices drawn from a seeded generator, so the same Options always give the same bytes. The
// output is noise; tests that need a finished statement constrain it with a grammar.
package testmodel

import (
	"bufio"
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"os"
	"runtime"
	"strconv"
	"strings"
)

// Type is the GGML type of the weight matrices (token embedding, attention, feed-forward, output).
type Type uint32

// The supported weight types, numbered as in ggml.h's enum ggml_type.
const (
	F32  Type = 0
	F16  Type = 1
	Q8_0 Type = 8
)

func (t Type) String() string {
	switch t {
	case F32:
		return "f32"
	case F16:
		return "f16"
	case Q8_0:
		return "q8_0"
	}
	return "type(" + strconv.Itoa(int(t)) + ")"
}

// ParseType turns "f32", "f16" or "q8_0" into a Type.
func ParseType(s string) (Type, error) {
	switch strings.ToLower(s) {
	case "f32":
		return F32, nil
	case "f16":
		return F16, nil
	case "q8_0", "q8":
		return Q8_0, nil
	}
	return 0, fmt.Errorf("unknown weight type %q (want f32, f16 or q8_0)", s)
}

// Special token ids of every generated vocabulary.
const (
	UnknownID = 0
	BOSID     = 1
	EOSID     = 2
)

// DefaultWords are the word tokens added to the vocabulary when Options.Words is nil.
var DefaultWords = []string{
	"SELECT", "FROM", "WHERE", "GROUP", "BY", "ORDER", "LIMIT", "COUNT", "AS", "AND", "OR", "NOT",
	"JOIN", "ON", "IN", "IS", "NULL", "DISTINCT", "HAVING", "SUM", "AVG", "DESC", "ASC",
	"select", "from", "where", "count", "id", "name", "users", "orders", "customers", "products",
	"price", "total", "email", "created_at", "how", "many", "what", "the", "of", "is", "are", "a",
	"to", "in", "and", "with", "per", "each", "average",
}

// Options describe the model. Zero fields take the defaults noted beside them.
type Options struct {
	Type          Type     // weight matrices type; default F32
	Embd          int      // embedding length; default 64 (a multiple of 32 for Q8_0)
	Layers        int      // transformer blocks; default 2
	Heads         int      // attention heads; default 4
	HeadsKV       int      // key/value heads; default Heads
	FF            int      // feed-forward length; default 2*Embd
	ContextLength int      // llama.context_length; default 4096
	Words         []string // word tokens (each also as ▁word with its prefixes); default DefaultWords
	VocabSize     int      // pad the vocabulary with filler tokens up to this size; 0 = no padding
	Name          string   // general.name; default "pgask-testmodel"
	ChatTemplate  string   // tokenizer.chat_template; empty = none
	Seed          uint64   // weight generator seed; 0 is a valid seed
	Scale         float32  // weights are uniform in ±Scale/sqrt(fan-in); default 1
}

func (o Options) withDefaults() (Options, error) {
	if o.Embd == 0 {
		o.Embd = 64
	}
	if o.Layers == 0 {
		o.Layers = 2
	}
	if o.Heads == 0 {
		o.Heads = 4
	}
	if o.HeadsKV == 0 {
		o.HeadsKV = o.Heads
	}
	if o.FF == 0 {
		o.FF = 2 * o.Embd
	}
	if o.ContextLength == 0 {
		o.ContextLength = 4096
	}
	if o.Words == nil {
		o.Words = DefaultWords
	}
	if o.Name == "" {
		o.Name = "pgask-testmodel"
	}
	if o.Scale == 0 {
		o.Scale = 1
	}
	switch {
	case o.Type != F32 && o.Type != F16 && o.Type != Q8_0:
		return o, fmt.Errorf("unsupported weight type %v", o.Type)
	case o.Embd%o.Heads != 0 || o.Heads%o.HeadsKV != 0:
		return o, fmt.Errorf("embedding length %d, heads %d, kv heads %d do not divide", o.Embd, o.Heads, o.HeadsKV)
	case o.Type == Q8_0 && (o.Embd%32 != 0 || o.FF%32 != 0):
		return o, errors.New("q8_0 needs embedding and feed-forward lengths that are multiples of 32")
	case o.Layers < 0 || o.Embd < 0 || o.FF < 0:
		return o, errors.New("negative dimension")
	}
	return o, nil
}

// Vocab returns the tokens of the vocabulary Write produces for o, in id order, with their types
// (1 normal, 2 unknown, 3 control, 6 byte) and scores.
func Vocab(o Options) (tokens []string, types []int32, scores []float32) {
	if o.Words == nil {
		o.Words = DefaultWords
	}
	seen := map[string]bool{}
	add := func(tok string, typ int32, score float32) {
		if seen[tok] {
			return
		}
		seen[tok] = true
		tokens = append(tokens, tok)
		types = append(types, typ)
		scores = append(scores, score)
	}
	add("<unk>", 2, 0)
	add("<s>", 3, 0)
	add("</s>", 3, 0)
	for b := range 256 {
		add(fmt.Sprintf("<0x%02X>", b), 6, 0)
	}
	add("▁", 1, -1)
	for c := byte('!'); c <= '~'; c++ {
		add(string(c), 1, -1)
	}
	for _, w := range o.Words {
		// Every prefix of ▁word must be a token: SPM builds tokens by merging adjacent pieces whose
		// concatenation is in the vocabulary. Longer pieces score higher so they win the merges.
		r := []rune("▁" + w)
		for i := 2; i <= len(r); i++ {
			add(string(r[:i]), 1, float32(i))
		}
	}
	for i := 0; len(tokens) < o.VocabSize; i++ {
		add("▁tok"+strconv.Itoa(i), 1, -2)
	}
	return tokens, types, scores
}

// Write creates (or truncates) path and writes the model o describes.
func Write(path string, o Options) (err error) {
	o, err = o.withDefaults()
	if err != nil {
		return fmt.Errorf("testmodel: %w", err)
	}
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("testmodel: %w", err)
	}
	defer func() {
		if cerr := f.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("testmodel: %w", cerr)
		}
	}()
	w := &ggufWriter{w: bufio.NewWriterSize(f, 1<<20)}
	writeModel(w, o)
	if w.err == nil {
		w.err = w.w.Flush()
	}
	if w.err != nil {
		return fmt.Errorf("testmodel: write %s: %w", path, w.err)
	}
	return nil
}

// Size returns the size of the file Write would write for o, and its number of weights, without
// generating them (a 7B shape is checked in milliseconds).
func Size(o Options) (bytes, params uint64, err error) {
	o, err = o.withDefaults()
	if err != nil {
		return 0, 0, fmt.Errorf("testmodel: %w", err)
	}
	w := &ggufWriter{sizeOnly: true}
	writeModel(w, o)
	tokens, _, _ := Vocab(o)
	for _, t := range tensors(o, uint64(len(tokens))) {
		n := uint64(1)
		for _, d := range t.shape {
			n *= d
		}
		params += n
	}
	return w.n, params, nil
}

type tensor struct {
	name  string
	shape []uint64 // ne0 first (row length)
	typ   Type
}

func (t tensor) size() uint64 {
	n := uint64(1)
	for _, d := range t.shape {
		n *= d
	}
	switch t.typ {
	case F16:
		return n * 2
	case Q8_0:
		return n / 32 * 34
	}
	return n * 4
}

const alignment = 32

// tensors lists the model's tensors in file order, for a vocabulary of nv tokens.
func tensors(o Options, nv uint64) []tensor {
	e, ff := uint64(o.Embd), uint64(o.FF)
	ekv := e / uint64(o.Heads) * uint64(o.HeadsKV)
	ts := []tensor{
		{"token_embd.weight", []uint64{e, nv}, o.Type},
		{"output_norm.weight", []uint64{e}, F32},
		{"output.weight", []uint64{e, nv}, o.Type},
	}
	for i := range o.Layers {
		p := "blk." + strconv.Itoa(i) + "."
		ts = append(ts,
			tensor{p + "attn_norm.weight", []uint64{e}, F32},
			tensor{p + "attn_q.weight", []uint64{e, e}, o.Type},
			tensor{p + "attn_k.weight", []uint64{e, ekv}, o.Type},
			tensor{p + "attn_v.weight", []uint64{e, ekv}, o.Type},
			tensor{p + "attn_output.weight", []uint64{e, e}, o.Type},
			tensor{p + "ffn_norm.weight", []uint64{e}, F32},
			tensor{p + "ffn_gate.weight", []uint64{e, ff}, o.Type},
			tensor{p + "ffn_up.weight", []uint64{e, ff}, o.Type},
			tensor{p + "ffn_down.weight", []uint64{ff, e}, o.Type},
		)
	}
	return ts
}

func writeModel(w *ggufWriter, o Options) {
	tokens, types, scores := Vocab(o)
	nv := uint64(len(tokens))
	e, ff := uint64(o.Embd), uint64(o.FF)
	ts := tensors(o, nv)

	fileType := uint32(0) // LLAMA_FTYPE_ALL_F32
	switch o.Type {
	case F16:
		fileType = 1
	case Q8_0:
		fileType = 7
	}
	kvs := []func(){
		func() { w.kvString("general.architecture", "llama") },
		func() { w.kvString("general.name", o.Name) },
		func() { w.kvU32("general.alignment", alignment) },
		func() { w.kvU32("general.file_type", fileType) },
		func() { w.kvU32("llama.context_length", uint32(o.ContextLength)) },
		func() { w.kvU32("llama.embedding_length", uint32(e)) },
		func() { w.kvU32("llama.block_count", uint32(o.Layers)) },
		func() { w.kvU32("llama.feed_forward_length", uint32(ff)) },
		func() { w.kvU32("llama.attention.head_count", uint32(o.Heads)) },
		func() { w.kvU32("llama.attention.head_count_kv", uint32(o.HeadsKV)) },
		func() { w.kvU32("llama.rope.dimension_count", uint32(e/uint64(o.Heads))) },
		func() { w.kvF32("llama.attention.layer_norm_rms_epsilon", 1e-5) },
		func() { w.kvF32("llama.rope.freq_base", 10000) },
		func() { w.kvU32("llama.vocab_size", uint32(nv)) },
		func() { w.kvString("tokenizer.ggml.model", "llama") },
		func() { w.kvStrings("tokenizer.ggml.tokens", tokens) },
		func() { w.kvF32s("tokenizer.ggml.scores", scores) },
		func() { w.kvI32s("tokenizer.ggml.token_type", types) },
		func() { w.kvU32("tokenizer.ggml.unknown_token_id", UnknownID) },
		func() { w.kvU32("tokenizer.ggml.bos_token_id", BOSID) },
		func() { w.kvU32("tokenizer.ggml.eos_token_id", EOSID) },
		func() { w.kvBool("tokenizer.ggml.add_bos_token", true) },
		func() { w.kvBool("tokenizer.ggml.add_eos_token", false) },
	}
	if o.ChatTemplate != "" {
		kvs = append(kvs, func() { w.kvString("tokenizer.chat_template", o.ChatTemplate) })
	}

	w.raw([]byte("GGUF"))
	w.u32(3)
	w.u64(uint64(len(ts)))
	w.u64(uint64(len(kvs)))
	for _, kv := range kvs {
		kv()
	}
	var off uint64
	for _, t := range ts {
		w.str(t.name)
		w.u32(uint32(len(t.shape)))
		for _, d := range t.shape {
			w.u64(d)
		}
		w.u32(uint32(t.typ))
		w.u64(off)
		off += pad(t.size())
	}
	w.pad()
	if w.sizeOnly {
		for _, t := range ts {
			w.n += t.size()
			w.pad()
		}
		return
	}
	writeTensors(w, o, ts)
}

// writeTensors writes the tensors' data in order, generating them on several goroutines: each
// tensor has its own random stream (seeded by its name), so the bytes are those of a sequential
// write. A 7B-shaped model is ~7 GB of Q8_0: one core takes about a minute, eight a few seconds.
// At most 2×workers tensors are held in memory at once (the largest of a 7B shape, the
// 32000×4096 embedding, is 139 MB in Q8_0, 262 MB in f16).
func writeTensors(w *ggufWriter, o Options, ts []tensor) {
	workers := min(runtime.GOMAXPROCS(0), 8)
	results := make([]chan []byte, len(ts))
	for i := range results {
		results[i] = make(chan []byte, 1)
	}
	slots := make(chan struct{}, 2*workers) // tensors generated but not yet written
	next := make(chan int)
	done := make(chan struct{})
	defer close(done)
	go func() {
		defer close(next)
		for i := range ts {
			select {
			case slots <- struct{}{}:
			case <-done:
				return
			}
			select {
			case next <- i:
			case <-done:
				return
			}
		}
	}()
	for range workers {
		go func() {
			for i := range next {
				results[i] <- tensorData(o, ts[i])
			}
		}()
	}
	for i := range ts {
		w.raw(<-results[i])
		w.pad()
		<-slots
		if w.err != nil {
			return
		}
	}
}

func pad(n uint64) uint64 { return (n + alignment - 1) / alignment * alignment }

// tensorData generates tensor t's bytes.
func tensorData(o Options, t tensor) []byte {
	buf := make([]byte, 0, t.size())
	if strings.HasSuffix(t.name, "norm.weight") {
		for range t.shape[0] {
			buf = appendU32(buf, math.Float32bits(1))
		}
		return buf
	}
	h := fnv.New64a()
	h.Write([]byte(t.name))
	rng := rand.New(rand.NewPCG(o.Seed, h.Sum64()))
	fanIn := float64(t.shape[0])
	if t.name == "token_embd.weight" {
		fanIn = 1 // embeddings are read, not multiplied: keep them O(1) like trained ones
	}
	limit := float32(float64(o.Scale) / math.Sqrt(fanIn))
	row := make([]float32, t.shape[0])
	for range t.shape[1] {
		for i := range row {
			row[i] = (rng.Float32()*2 - 1) * limit
		}
		switch t.typ {
		case F32:
			for _, v := range row {
				buf = appendU32(buf, math.Float32bits(v))
			}
		case F16:
			for _, v := range row {
				buf = appendU16(buf, toF16(v))
			}
		case Q8_0:
			buf = appendQ8_0(buf, row)
		}
	}
	return buf
}

// appendQ8_0 quantises row (a multiple of 32 long) like ggml's quantize_row_q8_0_ref: blocks of
// 32 values, an f16 scale d = max|x|/127 and 32 int8 values round(x/d).
func appendQ8_0(buf []byte, row []float32) []byte {
	for b := 0; b < len(row); b += 32 {
		blk := row[b : b+32]
		var amax float32
		for _, v := range blk {
			amax = max(amax, float32(math.Abs(float64(v))))
		}
		d := amax / 127
		id := float32(0)
		if d != 0 {
			id = 1 / d
		}
		buf = appendU16(buf, toF16(d))
		for _, v := range blk {
			buf = append(buf, byte(int8(math.Round(float64(v*id)))))
		}
	}
	return buf
}

// toF16 converts to IEEE half precision, rounding to nearest even; values here are small and
// finite, subnormals flush to zero.
func toF16(f float32) uint16 {
	b := math.Float32bits(f)
	sign := uint16(b>>16) & 0x8000
	exp := int32(b>>23&0xff) - 127 + 15
	mant := b & 0x7fffff
	switch {
	case exp <= 0:
		return sign
	case exp >= 31:
		return sign | 0x7c00
	}
	h := uint32(exp)<<10 | mant>>13
	rest := mant & 0x1fff
	if rest > 0x1000 || (rest == 0x1000 && h&1 == 1) {
		h++ // may carry into the exponent, which is the correct rounding
	}
	return sign | uint16(h)
}

func appendU16(b []byte, v uint16) []byte { return append(b, byte(v), byte(v>>8)) }
func appendU32(b []byte, v uint32) []byte {
	return append(b, byte(v), byte(v>>8), byte(v>>16), byte(v>>24))
}

// ggufWriter writes GGUF v3 primitives, remembering the first error. With sizeOnly it only
// counts (Size).
type ggufWriter struct {
	w        *bufio.Writer
	n        uint64
	err      error
	b        [8]byte
	sizeOnly bool
}

const (
	ggufU32    = 4
	ggufI32    = 5
	ggufF32    = 6
	ggufBool   = 7
	ggufString = 8
	ggufArray  = 9
)

func (w *ggufWriter) raw(p []byte) {
	if w.sizeOnly {
		w.n += uint64(len(p))
		return
	}
	if w.err != nil {
		return
	}
	_, w.err = w.w.Write(p)
	w.n += uint64(len(p))
}

func (w *ggufWriter) u32(v uint32) { w.raw(appendU32(w.b[:0], v)) }
func (w *ggufWriter) u64(v uint64) {
	w.raw(appendU32(appendU32(w.b[:0], uint32(v)), uint32(v>>32)))
}
func (w *ggufWriter) f32(v float32) { w.u32(math.Float32bits(v)) }
func (w *ggufWriter) str(s string) {
	w.u64(uint64(len(s)))
	w.raw([]byte(s))
}
func (w *ggufWriter) pad() {
	if n := pad(w.n) - w.n; n > 0 {
		w.raw(make([]byte, n))
	}
}

func (w *ggufWriter) kvString(k, v string) { w.str(k); w.u32(ggufString); w.str(v) }
func (w *ggufWriter) kvU32(k string, v uint32) {
	w.str(k)
	w.u32(ggufU32)
	w.u32(v)
}
func (w *ggufWriter) kvF32(k string, v float32) {
	w.str(k)
	w.u32(ggufF32)
	w.f32(v)
}
func (w *ggufWriter) kvBool(k string, v bool) {
	w.str(k)
	w.u32(ggufBool)
	if v {
		w.raw([]byte{1})
	} else {
		w.raw([]byte{0})
	}
}
func (w *ggufWriter) kvStrings(k string, vs []string) {
	w.str(k)
	w.u32(ggufArray)
	w.u32(ggufString)
	w.u64(uint64(len(vs)))
	for _, v := range vs {
		w.str(v)
	}
}
func (w *ggufWriter) kvF32s(k string, vs []float32) {
	w.str(k)
	w.u32(ggufArray)
	w.u32(ggufF32)
	w.u64(uint64(len(vs)))
	for _, v := range vs {
		w.f32(v)
	}
}
func (w *ggufWriter) kvI32s(k string, vs []int32) {
	w.str(k)
	w.u32(ggufArray)
	w.u32(ggufI32)
	w.u64(uint64(len(vs)))
	for _, v := range vs {
		w.u32(uint32(v))
	}
}
