# syntax=docker/dockerfile:1
# pgask, CPU image. llama.cpp and ggml are compiled by cgo from the sources the ollama Go module
# vendors, with the project's C flags (make build): without them ggml's CPU kernels are baseline
# x86-64 and many times slower. PGASK_MARCH=x86-64-v2 builds for CPUs without AVX2.
#
#   docker build -t pgask .
#   docker run --rm -p 6432:6432 -v pgask-models:/var/cache/pgask pgask serve --upstream ...
#
# Models are cached in /var/cache/pgask/models (a volume: pull once, keep across containers).

ARG GO_VERSION=1.26

FROM golang:${GO_VERSION}-trixie AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/root/go/pkg/mod go mod download
COPY . .
ARG PGASK_MARCH=x86-64-v3
RUN --mount=type=cache,target=/root/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    make build PGASK_MARCH=${PGASK_MARCH} && ./bin/pgask --help >/dev/null

FROM debian:trixie-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates libstdc++6 libgomp1 \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --home-dir /var/cache/pgask --create-home pgask
COPY --from=build /src/bin/pgask /usr/local/bin/pgask
ENV XDG_CACHE_HOME=/var/cache \
    PGASK_LISTEN=0.0.0.0:6432
USER pgask
VOLUME /var/cache/pgask
EXPOSE 6432
ENTRYPOINT ["pgask"]
CMD ["serve"]
