package llama

/*
#include <stdlib.h>
#include "llama.h"
*/
import "C"

import (
	"errors"
	"fmt"
	"unsafe"
)

// ErrNoChatTemplate is returned by ApplyChatTemplate for a model whose GGUF carries no
// tokenizer.chat_template, and for a template that llama.cpp's built-in formatter does not know.
var ErrNoChatTemplate = errors.New("no usable chat template")

// ChatMessage is one turn of a conversation: Role is "system", "user" or "assistant".
type ChatMessage struct {
	Role, Content string
}

// ApplyChatTemplate formats msgs with the chat template the model's GGUF carries
// (tokenizer.chat_template), through llama.cpp's llama_chat_apply_template, which recognises the
// common families (ChatML, Llama 3, Gemma, Mistral, Phi, ...) without a Jinja engine. With
// addAssistant the text ends with the opening of the assistant's turn. A file without a template
// whose architecture has a single chat format uses llama.cpp's built-in one (Metadata.ChatBuiltin).
func (m *Model) ApplyChatTemplate(msgs []ChatMessage, addAssistant bool) (string, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.closed {
		return "", fmt.Errorf("apply chat template: %w", ErrClosed)
	}
	tmpl := C.llama_model_chat_template(m.c, nil)
	if tmpl == nil {
		if m.meta.ChatBuiltin == "" {
			return "", fmt.Errorf("apply chat template: %w: the GGUF has no tokenizer.chat_template", ErrNoChatTemplate)
		}
		tmpl = C.CString(m.meta.ChatBuiltin)
		defer C.free(unsafe.Pointer(tmpl))
	}
	if len(msgs) == 0 {
		return "", errors.New("apply chat template: no messages")
	}
	cmsgs := (*[1 << 20]C.struct_llama_chat_message)(C.malloc(C.size_t(len(msgs)) * C.size_t(unsafe.Sizeof(C.struct_llama_chat_message{}))))[:len(msgs):len(msgs)]
	defer C.free(unsafe.Pointer(&cmsgs[0]))
	total := 0
	for i, msg := range msgs {
		cmsgs[i].role = C.CString(msg.Role)
		cmsgs[i].content = C.CString(msg.Content)
		total += len(msg.Role) + len(msg.Content)
	}
	defer func() {
		for i := range cmsgs {
			C.free(unsafe.Pointer(cmsgs[i].role))
			C.free(unsafe.Pointer(cmsgs[i].content))
		}
	}()
	size := 2*total + 256
	for range 2 {
		buf := C.malloc(C.size_t(size))
		n := C.llama_chat_apply_template(tmpl, &cmsgs[0], C.size_t(len(msgs)), C.bool(addAssistant), (*C.char)(buf), C.int32_t(size))
		if n < 0 {
			C.free(buf)
			return "", fmt.Errorf("apply chat template: %w: llama.cpp does not recognise the model's template", ErrNoChatTemplate)
		}
		if int(n) <= size {
			s := C.GoStringN((*C.char)(buf), C.int(n))
			C.free(buf)
			return s, nil
		}
		C.free(buf)
		size = int(n)
	}
	return "", errors.New("apply chat template: the formatted text kept growing")
}
