// Command testgguf writes a random-weight llama GGUF (see internal/testmodel): it loads and runs
// on llama.cpp like a real model, so pgask's machinery can be tried and benchmarked without
// downloading one, but what it generates is nonsense (use --ask-grammar narrow with it).
//
//	go run ./internal/testmodel/testgguf -o /tmp/tiny.gguf                    # ~0.2 MB, f16
//	testgguf -preset small -o small.gguf    # bench/engine's ~100 MB llama (1024 embd, 8 layers), q8_0
//	testgguf -preset 7b -o 7b.gguf          # llama-2-7b's shape, q8_0: 6.74e9 weights, 7.2 GB
//	testgguf -preset 7b -n                  # print the size only, write nothing
//
// A preset sets the shape and the type; flags given explicitly override it.
package main

import (
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/pgask/pgask/internal/testmodel"
)

// presets are the shapes bench/gpu/run.sh uses; "" is the generator's tiny default.
var presets = map[string]testmodel.Options{
	"":      {Type: testmodel.F16},
	"tiny":  {Type: testmodel.F16},
	"small": {Type: testmodel.Q8_0, Embd: 1024, Layers: 8, Heads: 16, FF: 2816, Name: "pgask-synthetic-small"},
	"7b": {Type: testmodel.Q8_0, Embd: 4096, Layers: 32, Heads: 32, FF: 11008, VocabSize: 32000,
		Name: "pgask-synthetic-7b"},
}

func main() {
	out := flag.String("o", "tiny.gguf", "output file")
	preset := flag.String("preset", "", "shape and type: tiny (default), small (bench/engine's ~100 MB llama, q8_0) or 7b (llama-2-7b's shape, q8_0)")
	typ := flag.String("type", "", "weight type: f32, f16 or q8_0 (default: the preset's)")
	seed := flag.Uint64("seed", 7, "weight generator seed")
	embd := flag.Int("embd", 0, "embedding length (0 = the preset's)")
	layers := flag.Int("layers", 0, "transformer blocks (0 = the preset's)")
	heads := flag.Int("heads", 0, "attention heads (0 = the preset's)")
	headsKV := flag.Int("heads-kv", 0, "key/value heads (0 = as many as heads)")
	ff := flag.Int("ff", 0, "feed-forward length (0 = the preset's)")
	vocab := flag.Int("vocab", 0, "pad the vocabulary to this many tokens (0 = the preset's)")
	ctx := flag.Int("ctx", 0, "llama.context_length (0 = 4096)")
	name := flag.String("name", "", "general.name (default: the preset's)")
	dry := flag.Bool("n", false, "print the size and number of weights only; write nothing")
	flag.Parse()

	o, ok := presets[*preset]
	if !ok {
		fail(2, fmt.Errorf("unknown preset %q (want tiny, small or 7b)", *preset))
	}
	if *typ != "" {
		t, err := testmodel.ParseType(*typ)
		if err != nil {
			fail(2, err)
		}
		o.Type = t
	}
	o.Seed = *seed
	set := func(dst *int, v int) {
		if v != 0 {
			*dst = v
		}
	}
	set(&o.Embd, *embd)
	set(&o.Layers, *layers)
	set(&o.Heads, *heads)
	set(&o.HeadsKV, *headsKV)
	set(&o.FF, *ff)
	set(&o.VocabSize, *vocab)
	set(&o.ContextLength, *ctx)
	if *name != "" {
		o.Name = *name
	}
	size, params, err := testmodel.Size(o)
	if err != nil {
		fail(2, err)
	}
	if *dry {
		fmt.Printf("%s: %d weights, %d bytes (%.1f MiB), type %v\n", *out, params, size, float64(size)/(1<<20), o.Type)
		return
	}
	start := time.Now()
	if err := testmodel.Write(*out, o); err != nil {
		fail(1, err)
	}
	fmt.Printf("%s: %d weights, %d bytes (%.1f MiB), type %v, written in %.1fs\n", *out, params, size, float64(size)/(1<<20), o.Type, time.Since(start).Seconds())
}

func fail(code int, err error) {
	fmt.Fprintln(os.Stderr, "testgguf:", err)
	os.Exit(code)
}
