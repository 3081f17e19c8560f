package llama

import "testing"

func TestLooping(t *testing.T) {
	rep := func(block []int32, times int) []int32 {
		var out []int32
		for range times {
			out = append(out, block...)
		}
		return out
	}
	seq := func(n int) []int32 {
		out := make([]int32, n)
		for i := range out {
			out[i] = int32(i)
		}
		return out
	}
	tests := []struct {
		name string
		toks []int32
		want bool
	}{
		{"empty", nil, false},
		{"distinct tokens", seq(200), false},
		{"short run of one token", append(seq(10), rep([]int32{7}, 31)...), false},
		{"long run of one token", append(seq(10), rep([]int32{7}, 32)...), true},
		{"period 3, 11 times", append(seq(5), rep([]int32{1, 2, 3}, 11)...), true},
		{"period 3, 10 times (30 tokens)", append(seq(5), rep([]int32{1, 2, 3}, 10)...), false},
		{"period 16, 4 times", append(seq(3), rep(seq(16), 4)...), true},
		{"period 16, 3 times", append(seq(3), rep(seq(16), 3)...), false},
		{"period 17 is not looked for", rep(seq(17), 6), false},
		{"loop broken at the end", append(rep([]int32{1, 2}, 40), 9), false},
	}
	for _, tt := range tests {
		if got := looping(tt.toks); got != tt.want {
			t.Errorf("%s: looping = %v, want %v", tt.name, got, tt.want)
		}
	}
}
