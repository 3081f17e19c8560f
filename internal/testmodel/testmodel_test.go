package testmodel

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestToF16(t *testing.T) {
	tests := []struct {
		in   float32
		want uint16
	}{
		{0, 0x0000},
		{1, 0x3c00},
		{-2, 0xc000},
		{0.5, 0x3800},
		{65504, 0x7bff},
		{1e6, 0x7c00},
		{1.0009765625, 0x3c01},  // exactly representable
		{1.00048828125, 0x3c00}, // halfway, rounds to even
		{0.333333, 0x3555},
	}
	for _, tt := range tests {
		if got := toF16(tt.in); got != tt.want {
			t.Errorf("toF16(%v) = %#04x, want %#04x", tt.in, got, tt.want)
		}
	}
}

func TestQ8_0(t *testing.T) {
	row := make([]float32, 64)
	for i := range row {
		row[i] = float32(i-32) / 10
	}
	buf := appendQ8_0(nil, row)
	if len(buf) != 2*34 {
		t.Fatalf("len = %d, want 68", len(buf))
	}
	for b := range 2 {
		blk := buf[b*34:]
		d := f16ToF32(binary.LittleEndian.Uint16(blk))
		for i := range 32 {
			got := d * float32(int8(blk[2+i]))
			if diff := math.Abs(float64(got - row[b*32+i])); diff > float64(d) {
				t.Errorf("block %d value %d: dequantised %v, want %v ± %v", b, i, got, row[b*32+i], d)
			}
		}
	}
}

func f16ToF32(h uint16) float32 {
	exp := int(h>>10&0x1f) - 15
	mant := float64(h&0x3ff)/1024 + 1
	v := float32(math.Ldexp(mant, exp))
	if h&0x8000 != 0 {
		v = -v
	}
	return v
}

// TestWrite checks the GGUF layout: header counts, every tensor's offset and the file length, and
// that the same options give the same bytes.
func TestWrite(t *testing.T) {
	for _, typ := range []Type{F32, F16, Q8_0} {
		t.Run(typ.String(), func(t *testing.T) {
			dir := t.TempDir()
			p := filepath.Join(dir, "a.gguf")
			start := time.Now()
			opts := Options{Type: typ, Seed: 7}
			if err := Write(p, opts); err != nil {
				t.Fatal(err)
			}
			t.Logf("written in %v", time.Since(start))
			data, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			r := &reader{b: data}
			if string(r.next(4)) != "GGUF" || r.u32() != 3 {
				t.Fatal("bad magic or version")
			}
			nt, nkv := r.u64(), r.u64()
			if nt != 3+2*9 {
				t.Errorf("tensor count %d, want 21", nt)
			}
			kv := map[string]any{}
			for range nkv {
				k := r.str()
				kv[k] = r.value(r.u32())
			}
			if kv["general.architecture"] != "llama" || kv["llama.embedding_length"] != uint32(64) {
				t.Errorf("metadata: %v %v", kv["general.architecture"], kv["llama.embedding_length"])
			}
			toks, _, _ := Vocab(opts)
			if got := kv["tokenizer.ggml.tokens"].([]any); len(got) != len(toks) || got[EOSID] != "</s>" {
				t.Errorf("tokens: %d, want %d", len(got), len(toks))
			}
			var end uint64
			for range nt {
				name := r.str()
				nd := r.u32()
				n := uint64(1)
				var shape []uint64
				for range nd {
					d := r.u64()
					shape = append(shape, d)
					n *= d
				}
				ty := Type(r.u32())
				off := r.u64()
				if off%alignment != 0 || off < end {
					t.Errorf("%s: offset %d (previous end %d)", name, off, end)
				}
				end = off + tensor{name, shape, ty}.size()
			}
			dataStart := pad(uint64(r.off))
			if got, want := uint64(len(data)), pad(dataStart+end); got != want {
				t.Errorf("file length %d, want %d", got, want)
			}
			p2 := filepath.Join(dir, "b.gguf")
			if err := Write(p2, opts); err != nil {
				t.Fatal(err)
			}
			data2, _ := os.ReadFile(p2)
			if !bytes.Equal(data, data2) {
				t.Error("two writes with the same options differ")
			}
		})
	}
}

func TestWriteRejects(t *testing.T) {
	for name, o := range map[string]Options{
		"q8 odd embd": {Type: Q8_0, Embd: 48, Heads: 4},
		"heads":       {Embd: 64, Heads: 5},
		"type":        {Type: 2},
	} {
		if err := Write(filepath.Join(t.TempDir(), "x.gguf"), o); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestVocabPrefixes(t *testing.T) {
	toks, types, _ := Vocab(Options{Words: []string{"SELECT"}, VocabSize: 500})
	index := map[string]int{}
	for i, tok := range toks {
		index[tok] = i
	}
	for _, want := range []string{"▁S", "▁SE", "▁SELEC", "▁SELECT", "<0x41>", "A"} {
		if _, ok := index[want]; !ok {
			t.Errorf("missing token %q", want)
		}
	}
	if len(toks) != 500 || types[index["<0x41>"]] != 6 || types[BOSID] != 3 {
		t.Errorf("len %d, byte type %d, bos type %d", len(toks), types[index["<0x41>"]], types[BOSID])
	}
}

type reader struct {
	b   []byte
	off int
}

func (r *reader) next(n int) []byte { p := r.b[r.off : r.off+n]; r.off += n; return p }
func (r *reader) u32() uint32       { return binary.LittleEndian.Uint32(r.next(4)) }
func (r *reader) u64() uint64       { return binary.LittleEndian.Uint64(r.next(8)) }
func (r *reader) str() string       { return string(r.next(int(r.u64()))) }
func (r *reader) value(typ uint32) any {
	switch typ {
	case ggufU32:
		return r.u32()
	case ggufI32:
		return int32(r.u32())
	case ggufF32:
		return math.Float32frombits(r.u32())
	case ggufBool:
		return r.next(1)[0] != 0
	case ggufString:
		return r.str()
	case ggufArray:
		et, n := r.u32(), r.u64()
		out := make([]any, n)
		for i := range out {
			out[i] = r.value(et)
		}
		return out
	}
	panic("unknown gguf type")
}

// TestBytesAndSize pins the generated bytes (written by parallel goroutines, they must equal the
// original sequential writer's; these hashes are that writer's) and checks that Size, which
// generates nothing, gives the written file's size.
func TestBytesAndSize(t *testing.T) {
	for _, c := range []struct {
		o    Options
		size int64
		hash string
	}{
		{Options{Type: Q8_0, Seed: 1, Embd: 256, Layers: 3, Heads: 8, FF: 512}, 2403552, "718c41605200339468763bf42320086d5759a5892d37be44ab1b73d90b78d38d"},
		{Options{Type: F16, Seed: 2, Embd: 128, Layers: 2, VocabSize: 2000}, 1732448, "4915ea74213e6d8c5771bbce6fc51f2aa5072c572a12c7077fd84ec4b2892f56"},
		{Options{Type: F32, Seed: 3}, 618560, "0bcee5cba07884a2be3dbe1d74ada94a76eacb5185cff277686259930723ddfc"},
	} {
		p := filepath.Join(t.TempDir(), "m.gguf")
		if err := Write(p, c.o); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if got := fmt.Sprintf("%x", sha256.Sum256(b)); int64(len(b)) != c.size || got != c.hash {
			t.Errorf("%v: %d bytes, sha256 %s; want %d, %s", c.o.Type, len(b), got, c.size, c.hash)
		}
		size, params, err := Size(c.o)
		if err != nil || size != uint64(len(b)) || params == 0 {
			t.Errorf("%v: Size = %d, %d params, %v; the file has %d bytes", c.o.Type, size, params, err, len(b))
		}
	}
	// a 7B llama shape in Q8_0: 6,738,415,616 weights as llama-2-7b, ~7.2 GB, computed without writing it
	size, params, err := Size(Options{Type: Q8_0, Embd: 4096, Layers: 32, Heads: 32, FF: 11008, VocabSize: 32000})
	if err != nil || params != 6738415616 || size < 7_160_000_000 || size > 7_170_000_000 {
		t.Errorf("7B Q8_0: Size = %d bytes, %d params, %v", size, params, err)
	}
}
