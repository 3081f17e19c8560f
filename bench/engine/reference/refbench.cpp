// refbench: llama-bench's pp<N> and tg<N> figures (as in llama.cpp b7347's
// tools/llama-bench/llama-bench.cpp), reduced to what bench/engine compares against:
//
//   refbench -m model.gguf [-t threads] [-p 512] [-n 64] [-r 5] [--poll 50] [-c n_ctx] [-ngl 999]
//
// For each test (pp, then tg) it does what llama-bench does: a fresh context with
// n_ctx = n_prompt + n_gen, n_batch 2048, n_ubatch 512, K/V f16, flash attention auto; a ggml
// thread pool of t threads (poll 50) attached to it; one warm-up run; then r repetitions, each
// clearing the KV cache first. pp = the prompt in one llama_decode (llama_batch_get_one, first token
// BOS if the vocabulary adds one, the rest std::rand() % n_vocab); tg = n_gen decodes of one token
// each, starting from an empty cache. It prints t/s per repetition, their mean (what llama-bench
// prints) and their median. -c overrides n_ctx (pgask's BenchmarkEngine uses 1024 and
// n_batch = n_ubatch = 512), to rule the context size out.
//
// GPU: -ngl layers are offloaded (llama.cpp's default, 999 = all, as llama-bench's 99). Built with
// GGML_BACKEND_DL (bench/gpu/build-cuda.sh), the backends are modules (libggml-cpu.so,
// libggml-cuda.so) loaded from the executable's folder, and the CPU thread-pool functions are
// looked up through the CPU backend's registry, as llama-bench does. With a GPU it prints the GPU
// memory that the model and each test's context took (drop of the devices' free memory).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "ggml-backend.h"
#include "ggml-cpu.h"
#include "llama.h"

typedef ggml_threadpool * (*threadpool_new_fn)(ggml_threadpool_params *);
typedef void (*threadpool_free_fn)(ggml_threadpool *);
static threadpool_new_fn tp_new;
static threadpool_free_fn tp_free;

// free memory of the GPU devices (0 without one)
static size_t gpu_free() {
    size_t sum = 0;
    for (size_t i = 0; i < ggml_backend_dev_count(); i++) {
        ggml_backend_dev_t d = ggml_backend_dev_get(i);
        if (ggml_backend_dev_type(d) == GGML_BACKEND_DEVICE_TYPE_GPU) {
            size_t free = 0, total = 0;
            ggml_backend_dev_memory(d, &free, &total);
            sum += free;
        }
    }
    return sum;
}
static size_t free_before_model;

static double now_s() {
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

static void quiet_log(ggml_log_level, const char *, void *) {}

static bool decode_prompt(llama_context * ctx, int n_prompt, int n_batch) {
    const llama_vocab * vocab = llama_model_get_vocab(llama_get_model(ctx));
    const int n_vocab = llama_vocab_n_tokens(vocab);
    std::vector<llama_token> toks(n_batch);
    for (int done = 0; done < n_prompt;) {
        const int n = std::min(n_prompt - done, n_batch);
        toks[0] = done == 0 && llama_vocab_get_add_bos(vocab) ? llama_vocab_bos(vocab) : std::rand() % n_vocab;
        for (int i = 1; i < n; i++) {
            toks[i] = std::rand() % n_vocab;
        }
        if (llama_decode(ctx, llama_batch_get_one(toks.data(), n)) != 0) {
            return false;
        }
        done += n;
    }
    llama_synchronize(ctx);
    return true;
}

static bool decode_gen(llama_context * ctx, int n_gen) {
    const llama_vocab * vocab = llama_model_get_vocab(llama_get_model(ctx));
    const int n_vocab = llama_vocab_n_tokens(vocab);
    llama_token tok = llama_vocab_get_add_bos(vocab) ? llama_vocab_bos(vocab) : std::rand() % n_vocab;
    for (int i = 0; i < n_gen; i++) {
        if (llama_decode(ctx, llama_batch_get_one(&tok, 1)) != 0) {
            return false;
        }
        llama_synchronize(ctx);
        tok = std::rand() % n_vocab;
    }
    return true;
}

// run one llama-bench test (n_prompt > 0: pp, else tg) and print its repetitions and median.
static bool run_test(llama_model * model, const char * label, int n_prompt, int n_gen, int n_ctx, int threads, int reps, int poll) {
    llama_context_params cp = llama_context_default_params();
    cp.n_ctx = n_ctx > 0 ? n_ctx : n_prompt + n_gen;
    cp.n_batch = 2048;
    cp.n_ubatch = 512;
    cp.type_k = GGML_TYPE_F16;
    cp.type_v = GGML_TYPE_F16;
    cp.flash_attn_type = LLAMA_FLASH_ATTN_TYPE_AUTO;
    cp.n_threads = threads;
    cp.n_threads_batch = threads;
    llama_context * ctx = llama_init_from_model(model, cp);
    if (!ctx) {
        fprintf(stderr, "refbench: cannot create the context\n");
        return false;
    }
    const size_t vram_free = gpu_free();
    ggml_threadpool_params tpp = ggml_threadpool_params_default(threads);
    tpp.poll = poll;
    ggml_threadpool * pool = tp_new(&tpp);
    llama_attach_threadpool(ctx, pool, nullptr);
    llama_set_n_threads(ctx, threads, threads);

    auto once = [&](bool warm) {
        return n_prompt > 0 ? decode_prompt(ctx, n_prompt, cp.n_batch) : decode_gen(ctx, warm ? 1 : n_gen);
    };
    llama_memory_clear(llama_get_memory(ctx), false);
    bool ok = once(true); // warm-up: the whole prompt for pp, one token for tg (as llama-bench)
    std::vector<double> ts;
    for (int r = 0; ok && r < reps; r++) {
        llama_memory_clear(llama_get_memory(ctx), false);
        const double t0 = now_s();
        ok = once(false);
        ts.push_back((n_prompt + n_gen) / (now_s() - t0));
    }
    llama_free(ctx);
    tp_free(pool);
    if (!ok) {
        fprintf(stderr, "refbench: llama_decode failed\n");
        return false;
    }
    printf("%-5s t=%d  runs:", label, threads);
    for (double v : ts) {
        printf(" %.1f", v);
    }
    double sum = 0;
    for (double v : ts) {
        sum += v;
    }
    std::sort(ts.begin(), ts.end());
    const size_t n = ts.size();
    const double med = n % 2 ? ts[n / 2] : (ts[n / 2 - 1] + ts[n / 2]) / 2;
    printf("  mean %.1f  median %.1f t/s", sum / n, med); // llama-bench prints the mean (avg_ts)
    if (free_before_model > 0) {
        printf("  vram %.0f MiB", (double) (free_before_model - vram_free) / 1048576.0);
    }
    printf("\n");
    fflush(stdout);
    return true;
}

int main(int argc, char ** argv) {
    std::string path;
    int threads = 1, n_prompt = 512, n_gen = 64, reps = 5, poll = 50, n_ctx = 0, ngl = 999;
    bool verbose = false;
    for (int i = 1; i < argc; i++) {
        const std::string a = argv[i];
        const bool has = i + 1 < argc;
        if (a == "-m" && has) path = argv[++i];
        else if (a == "-t" && has) threads = atoi(argv[++i]);
        else if (a == "-p" && has) n_prompt = atoi(argv[++i]);
        else if (a == "-n" && has) n_gen = atoi(argv[++i]);
        else if (a == "-r" && has) reps = atoi(argv[++i]);
        else if (a == "--poll" && has) poll = atoi(argv[++i]);
        else if (a == "-c" && has) n_ctx = atoi(argv[++i]);
        else if (a == "-ngl" && has) ngl = atoi(argv[++i]);
        else if (a == "-v") verbose = true;
        else {
            fprintf(stderr, "usage: %s -m model.gguf [-t threads] [-p 512] [-n 64] [-r 5] [--poll 50] [-c n_ctx] [-ngl 999] [-v]\n", argv[0]);
            return 2;
        }
    }
    if (path.empty() || threads < 1 || reps < 1) {
        fprintf(stderr, "refbench: -m is required; -t and -r must be >= 1\n");
        return 2;
    }
    if (!verbose) {
        llama_log_set(quiet_log, nullptr);
    }
    ggml_backend_load_all(); // backend modules beside the executable (a GGML_BACKEND_DL build)
    llama_backend_init();
    ggml_backend_reg_t cpu = ggml_backend_reg_by_name("CPU");
    if (cpu) {
        tp_new = (threadpool_new_fn) ggml_backend_reg_get_proc_address(cpu, "ggml_threadpool_new");
        tp_free = (threadpool_free_fn) ggml_backend_reg_get_proc_address(cpu, "ggml_threadpool_free");
    }
    if (!tp_new || !tp_free) {
        fprintf(stderr, "refbench: no CPU backend (libggml-cpu.so beside the executable?)\n");
        return 1;
    }
    printf("system: %s\n", llama_print_system_info());
    for (size_t i = 0; i < ggml_backend_dev_count(); i++) {
        ggml_backend_dev_t d = ggml_backend_dev_get(i);
        size_t free = 0, total = 0;
        ggml_backend_dev_memory(d, &free, &total);
        printf("device: %s (%s), %.0f/%.0f MiB free\n", ggml_backend_dev_name(d), ggml_backend_dev_description(d),
               free / 1048576.0, total / 1048576.0);
    }
    free_before_model = gpu_free();

    llama_model_params mp = llama_model_default_params();
    mp.use_mmap = true;
    mp.n_gpu_layers = ngl;
    llama_model * model = llama_model_load_from_file(path.c_str(), mp);
    if (!model) {
        fprintf(stderr, "refbench: cannot load %s\n", path.c_str());
        return 1;
    }
    char desc[128];
    llama_model_desc(model, desc, sizeof(desc));
    printf("model: %s (%s, %.1f MiB), %d layers, -ngl %d\n", path.c_str(), desc, llama_model_size(model) / 1048576.0,
           llama_model_n_layer(model), ngl);

    bool ok = true;
    if (n_prompt > 0) ok = run_test(model, ("pp" + std::to_string(n_prompt)).c_str(), n_prompt, 0, n_ctx, threads, reps, poll) && ok;
    if (n_gen > 0) ok = run_test(model, ("tg" + std::to_string(n_gen)).c_str(), 0, n_gen, n_ctx, threads, reps, poll) && ok;
    llama_model_free(model);
    llama_backend_free();
    return ok ? 0 : 1;
}
