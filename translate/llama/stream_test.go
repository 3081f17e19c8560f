package llama

import (
	"strings"
	"testing"
)

func TestStreamer(t *testing.T) {
	tests := []struct {
		name     string
		stop     []string
		pieces   []string
		wantText string
		stopped  bool
		// chunks handed to OnToken, in order
		wantChunks []string
	}{
		{
			name:       "no stop strings",
			pieces:     []string{" SELECT", " id", " FROM", " t"},
			wantText:   " SELECT id FROM t",
			wantChunks: []string{" SELECT", " id", " FROM", " t"},
		},
		{
			name:       "stop inside a piece",
			stop:       []string{";"},
			pieces:     []string{" SELECT", " 1;", " garbage"},
			wantText:   " SELECT 1",
			stopped:    true,
			wantChunks: []string{" SELECT", " 1"},
		},
		{
			name:       "stop across pieces is held back",
			stop:       []string{"```"},
			pieces:     []string{" SELECT 1", "`", "`", "`", "more"},
			wantText:   " SELECT 1",
			stopped:    true,
			wantChunks: []string{" SELECT 1"},
		},
		{
			name:       "held-back prefix released when it turns out not to stop",
			stop:       []string{"[/SQL]"},
			pieces:     []string{"a [", "b", " [/S", "QL] x"},
			wantText:   "a [b ",
			stopped:    true,
			wantChunks: []string{"a ", "[b", " "},
		},
		{
			name:       "earliest of several stop strings",
			stop:       []string{"FROM", ";"},
			pieces:     []string{"SELECT 1; FROM"},
			wantText:   "SELECT 1",
			stopped:    true,
			wantChunks: []string{"SELECT 1"},
		},
		{
			name:       "partial UTF-8 held back",
			pieces:     []string{"caf", "\xc3", "\xa9 ok"},
			wantText:   "café ok",
			wantChunks: []string{"caf", "", "é ok"},
		},
		{
			name:       "three-byte rune over three pieces",
			pieces:     []string{"\xe2", "\x9c", "\x93!"},
			wantText:   "✓!",
			wantChunks: []string{"", "", "✓!"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var chunks []string
			s := newStreamer(Request{Stop: append(tt.stop, ""), OnToken: func(p string) error {
				chunks = append(chunks, p)
				return nil
			}})
			stopped := false
			for _, p := range tt.pieces {
				var err error
				if stopped, err = s.add([]byte(p)); err != nil {
					t.Fatal(err)
				}
				if stopped {
					break
				}
			}
			if err := s.flush(); err != nil {
				t.Fatal(err)
			}
			if stopped != tt.stopped || s.text() != tt.wantText {
				t.Errorf("stopped %v text %q, want %v %q", stopped, s.text(), tt.stopped, tt.wantText)
			}
			if got := strings.Join(chunks, ""); got != tt.wantText {
				t.Errorf("chunks %q join to %q, want %q", chunks, got, tt.wantText)
			}
			nonEmpty := func(ss []string) []string {
				var out []string
				for _, s := range ss {
					if s != "" {
						out = append(out, s)
					}
				}
				return out
			}
			if g, w := nonEmpty(chunks), nonEmpty(tt.wantChunks); strings.Join(g, "|") != strings.Join(w, "|") {
				t.Errorf("chunks %q, want %q", g, w)
			}
		})
	}
}

func FuzzStreamer(f *testing.F) {
	f.Add("SELECT 1;", ";", 3)
	f.Add("caf\xc3\xa9 [/SQL] x", "[/SQL]", 2)
	f.Add("```sql\nSELECT```", "```", 1)
	f.Fuzz(func(t *testing.T, text, stop string, step int) {
		if step <= 0 || step > 64 {
			step = 1
		}
		var got strings.Builder
		s := newStreamer(Request{Stop: []string{stop}, OnToken: func(p string) error { got.WriteString(p); return nil }})
		for i := 0; i < len(text); i += step {
			stopped, _ := s.add([]byte(text[i:min(i+step, len(text))]))
			if stopped {
				break
			}
		}
		s.flush()
		want := text
		if stop != "" {
			if i := strings.Index(text, stop); i >= 0 {
				want = text[:i]
			}
		}
		if s.text() != want || got.String() != want {
			t.Fatalf("text %q streamed %q, want %q", s.text(), got.String(), want)
		}
	})
}
