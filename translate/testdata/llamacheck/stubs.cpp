// Stubs for the llama.cpp symbols that llama-grammar.cpp references but a vocabulary-free
// grammar never calls (used by run.sh).
#include "llama-vocab.h"
#include "llama-impl.h"
#include <cstdio>
#include <cstdlib>
#include <cstdarg>
extern "C" void ggml_abort(const char *file, int line, const char *fmt, ...) { fprintf(stderr, "abort %s:%d\n", file, line); abort(); }
void llama_log_internal(ggml_log_level, const char *fmt, ...) { va_list a; va_start(a, fmt); vfprintf(stderr, fmt, a); va_end(a); }
bool llama_vocab::is_eog(llama_token) const { return false; }
const std::string & llama_vocab::token_to_piece(llama_token) const { static std::string s; return s; }
int32_t llama_vocab::tokenize(const char*, int32_t, llama_token*, int32_t, bool, bool) const { return 0; }
