# syntax=docker/dockerfile:1
# One image per binary, both static and running as non-root on a base without a shell:
#   docker build --target tera          -t ghcr.io/tera-health/tera:dev .
#   docker build --target tera-operator -t ghcr.io/tera-health/tera-operator:dev .
# (`make image` builds both where a Docker engine exists.)
ARG GO_VERSION=1.26

FROM golang:${GO_VERSION} AS build
WORKDIR /src
ENV CGO_ENABLED=0 GOFLAGS="-trimpath -buildvcs=false"
# Module metadata first so dependency downloads are cached across source changes.
COPY go.work go.work.sum ./
COPY pkg/go.mod pkg/go.sum pkg/
COPY services/go.mod services/go.sum services/
COPY operator/go.mod operator/go.sum operator/
RUN --mount=type=cache,target=/go/pkg/mod \
    cd services && go mod download && cd ../operator && go mod download
COPY pkg/ pkg/
COPY services/ services/
COPY operator/ operator/
ARG VERSION=dev
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    go build -ldflags "-s -w -X github.com/tera-health/tera/services/internal/version.Version=${VERSION}" \
      -o /out/tera ./services/cmd/tera && \
    go build -ldflags "-s -w -X main.version=${VERSION}" -o /out/tera-operator ./operator/cmd

FROM gcr.io/distroless/static:nonroot AS tera-operator
COPY --from=build /out/tera-operator /manager
USER 65532:65532
ENTRYPOINT ["/manager"]

# The default target (last stage): the fleet binary.
FROM gcr.io/distroless/static:nonroot AS tera
COPY --from=build /out/tera /tera
USER 65532:65532
ENTRYPOINT ["/tera"]
CMD ["version"]
