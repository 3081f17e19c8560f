// Command testgguf writes a tiny random-weight llama GGUF (see internal/testmodel): it loads and
// runs on llama.cpp like a real model, so pgask's machinery can be tried without downloading
// one, but what it generates is nonsense (use --ask-grammar narrow with it).
//
//	go run ./internal/testmodel/testgguf -o /tmp/tiny.gguf
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/pgask/pgask/internal/testmodel"
)

func main() {
	out := flag.String("o", "tiny.gguf", "output file")
	typ := flag.String("type", "f16", "weight type: f32, f16 or q8_0")
	seed := flag.Uint64("seed", 7, "weight generator seed")
	embd := flag.Int("embd", 0, "embedding length (0 = the generator's default, 64)")
	layers := flag.Int("layers", 0, "transformer blocks (0 = default, 2)")
	flag.Parse()
	t, err := testmodel.ParseType(*typ)
	if err != nil {
		fmt.Fprintln(os.Stderr, "testgguf:", err)
		os.Exit(2)
	}
	if err := testmodel.Write(*out, testmodel.Options{Type: t, Seed: *seed, Embd: *embd, Layers: *layers}); err != nil {
		fmt.Fprintln(os.Stderr, "testgguf:", err)
		os.Exit(1)
	}
}
