# pgask build and test entry points. The C flags matter: ggml's CPU kernels compiled with Go's
# default cgo flags are baseline x86-64 (SSE2) and 10-40x slower. Every build (README, CI, bench)
# goes through this file so the flags, and therefore Go's build cache, stay the same everywhere.
# Override for an older CPU with: make PGASK_MARCH=x86-64-v2 ...
PGASK_MARCH ?= x86-64-v3
# PGASK_OPENMP=1 runs ggml's decode threads on OpenMP instead of its own spinning thread pool:
# slower on an idle machine (tg64 ~150 vs ~275 tok/s at 2 threads) but it degrades gracefully when
# other processes take cores, where the pool can collapse. Needs libgomp at run time.
PGASK_OPENMP ?=
OMP_FLAGS := $(if $(PGASK_OPENMP), -fopenmp -DGGML_USE_OPENMP)
export CGO_ENABLED := 1
export CGO_CFLAGS := -O3 -march=$(PGASK_MARCH)$(OMP_FLAGS)
export CGO_CXXFLAGS := -O3 -march=$(PGASK_MARCH)$(OMP_FLAGS)
ifneq ($(PGASK_OPENMP),)
export CGO_LDFLAGS := -O2 -g -fopenmp
endif

GO ?= go
BIN := bin/pgask


.PHONY: ensure-postgres build demo serve test clients race fuzz vet fmt-check lint tidy-check clean

build:
	$(GO) build -o $(BIN) ./cmd/pgask

# The newcomer's first command: a throwaway PostgreSQL with a sample shop database and pgask in
# front of it (extra flags: make demo ARGS="--model /path/to/sqlcoder.gguf").
demo: ensure-postgres build
	$(BIN) demo $(ARGS)

# pgask in front of your own server: make serve UPSTREAM=db.internal:5432 ARGS="--listen 0.0.0.0:6432"
serve: build
	$(BIN) serve --upstream "$(UPSTREAM)" $(ARGS)

test: ensure-postgres
	$(GO) test -count=1 -timeout 20m ./...

# The client matrix alone: installs the drivers (pgjdbc, psqlODBC, psycopg 2 and 3, SQLAlchemy,
# pandas, node-postgres) into ~/.cache/pgask/clients, then runs each against pgask in front of a
# throwaway PostgreSQL. make test runs the matrix too, skipping drivers that are not installed.
clients: ensure-postgres
	bash internal/clients/install.sh
	PGASK_TEST_CLIENTS=1 $(GO) test -count=1 -timeout 10m -run TestClientMatrix -v ./internal/clients/

# The race detector on every package. The C of llama.cpp and the Postgres parser is not
# instrumented, but -race builds it once more (minutes, then cached). The proxy package runs three times: on its relay thread with io_uring (the default, where
# the kernel has it), on the relay thread with one system call per read and write, and on the
# goroutine relay alone, which TLS and ASK sessions use.
race: ensure-postgres
	$(GO) test -race -count=1 -timeout 20m ./...
	PGASK_TEST_RELAY_IO_URING=0 $(GO) test -race -count=1 -timeout 10m ./proxy/
	PGASK_TEST_RELAY_THREADS=-1 $(GO) test -race -count=1 -timeout 10m ./proxy/

# Every fuzz target for FUZZTIME each (seed corpora under testdata/fuzz also run in `make test`).
FUZZTIME ?= 20s
fuzz:
	@bash bench/fuzz-all.sh $(FUZZTIME)

# The relay thread is Linux-only and makes raw system calls: the packages without cgo are also
# checked for arm64 Linux and for macOS (goroutine relay only).
vet:
	$(GO) vet ./...
	GOOS=linux GOARCH=arm64 CGO_ENABLED=0 $(GO) vet ./proxy ./proxy/asksplit ./proxy/internal/... ./config
	GOOS=darwin GOARCH=arm64 CGO_ENABLED=0 $(GO) vet ./proxy ./proxy/asksplit ./proxy/internal/... ./config

# gofmt, go vet, staticcheck (pinned; go run fetches it once into the module cache) and a tidy
# go.mod. CI runs it.
STATICCHECK ?= honnef.co/go/tools/cmd/staticcheck@v0.8.2
lint: fmt-check vet tidy-check
	$(GO) run $(STATICCHECK) ./...

tidy-check:
	@$(GO) mod tidy -diff || { echo "go.mod/go.sum are not tidy: run go mod tidy"; exit 1; }

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

ensure-postgres:
	@bash .ci/ensure-postgres.sh

clean:
	rm -rf bin
