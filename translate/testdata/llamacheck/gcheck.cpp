// Cross-check (run.sh): parse a GBNF grammar with llama.cpp's own parser and test strings against it.
#include "llama-grammar.h"
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>
#include <chrono>
#include "unicode.h"
int main(int argc, char **argv) {
    std::ifstream gf(argv[1]); std::stringstream gs; gs << gf.rdbuf();
    std::string g = gs.str();
    llama_grammar *gr = llama_grammar_init_impl(nullptr, nullptr, g.c_str(), "root", false, nullptr, 0, nullptr, 0);
    if (!gr) { printf("GRAMMAR REJECTED\n"); return 2; }
    printf("grammar ok: %zu rules\n", gr->rules.size());
    if (argc < 3) return 0;
    std::ifstream qf(argv[2]); std::string line; int ok = 0, n = 0; size_t maxst = 0, sumst = 0, nch = 0; double ns = 0;
    while (std::getline(qf, line)) {
        // one query per line, \n escaped as \\n
        std::string q; for (size_t i = 0; i < line.size(); i++) { if (line[i]=='\\' && i+1<line.size() && line[i+1]=='n') { q += '\n'; i++; } else q += line[i]; }
        llama_grammar *c = llama_grammar_clone_impl(*gr);
        bool alive = true;
        auto t0 = std::chrono::steady_clock::now();
        for (unsigned char ch : q) { llama_grammar_accept(c, ch); if (c->stacks.size() > maxst) maxst = c->stacks.size(); sumst += c->stacks.size(); nch++; if (c->stacks.empty()) { alive = false; break; } }
        ns += std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - t0).count();
        bool done = false;
        if (alive) for (auto &st : c->stacks) if (st.empty()) done = true;
        n++; if (done) ok++; else printf("REJECT: %s\n", q.c_str());
        llama_grammar_free_impl(c);
    }
    printf("accepted %d of %d; %zu chars, %.2f us/char, live stacks avg %.1f max %zu\n", ok, n, nch, ns/nch/1000, (double)sumst/nch, maxst);
}
