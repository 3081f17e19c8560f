package llama

import (
	"errors"
	"path/filepath"
	"testing"

	"github.com/pgask/pgask/internal/testmodel"
)

func TestApplyChatTemplate(t *testing.T) {
	chatML := "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
	path := filepath.Join(t.TempDir(), "chatml.gguf")
	if err := testmodel.Write(path, testmodel.Options{Type: testmodel.Q8_0, Seed: 1, ChatTemplate: chatML, Name: "tiny-chatml"}); err != nil {
		t.Fatal(err)
	}
	m := load(t, path, Options{})
	msgs := []ChatMessage{{"system", "You write SQL."}, {"user", "How many rows?\nSay it."}}
	got, err := m.ApplyChatTemplate(msgs, true)
	if err != nil {
		t.Fatal(err)
	}
	want := "<|im_start|>system\nYou write SQL.<|im_end|>\n<|im_start|>user\nHow many rows?\nSay it.<|im_end|>\n<|im_start|>assistant\n"
	if got != want {
		t.Errorf("ApplyChatTemplate = %q, want %q", got, want)
	}
	// A long conversation makes llama.cpp ask for a larger buffer than the first guess.
	long := []ChatMessage{{"user", string(make([]byte, 0))}}
	for range 200 {
		long = append(long, ChatMessage{"assistant", "x"}, ChatMessage{"user", "y"})
	}
	if s, err := m.ApplyChatTemplate(long, false); err != nil || len(s) < 200*2*20 {
		t.Errorf("long chat: %d bytes, %v", len(s), err)
	}

	// The test models carry a template llama.cpp does not recognise; a model without one has none.
	other := load(t, models.q8_0, Options{})
	if _, err := other.ApplyChatTemplate(msgs, true); !errors.Is(err, ErrNoChatTemplate) {
		t.Errorf("unrecognised template: err = %v, want ErrNoChatTemplate", err)
	}
	bare := filepath.Join(t.TempDir(), "bare.gguf")
	if err := testmodel.Write(bare, testmodel.Options{Type: testmodel.Q8_0, Seed: 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := load(t, bare, Options{}).ApplyChatTemplate(msgs, true); !errors.Is(err, ErrNoChatTemplate) {
		t.Errorf("no template: err = %v, want ErrNoChatTemplate", err)
	}
}
