# The marketplace image, built from source: one static binary for every
# target (`serve --target=...`), run as uid 65532 on distroless/static, which
# holds CA certificates and tzdata and no shell.
#
#   docker build --build-arg VERSION=$(git describe --always --dirty) \
#     --build-arg COMMIT=$(git rev-parse HEAD) -t marketplace .
#
# deploy/Dockerfile.release makes the same image from a prebuilt binary
# (`make image`), without pulling a base image.

ARG GO_VERSION=1.26

FROM golang:${GO_VERSION} AS build
WORKDIR /src
# Modules first: their layer is reused until go.mod or go.sum change.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
ARG COMMIT=unknown
# ferretdb_no_sqlite: the embedded FerretDB runs on PostgreSQL only.
RUN CGO_ENABLED=0 go build -trimpath -tags ferretdb_no_sqlite,noloadgen,timetzdata \
      -ldflags "-s -w -X main.version=${VERSION} -X main.commit=${COMMIT}" \
      -o /out/marketplace ./cmd/marketplace \
 && mkdir -p /out/data

FROM gcr.io/distroless/static-debian12:nonroot
ARG VERSION=dev
ARG COMMIT=unknown
LABEL org.opencontainers.image.title="marketplace" \
      org.opencontainers.image.description="The marketplace platform: every service in one binary, chosen with serve --target" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${COMMIT}"
COPY --from=build /out/marketplace /marketplace
COPY --from=build --chown=65532:65532 /out/data /data
# In a container every listener takes its port on every interface; the
# defaults of a local run listen on loopback only.
ENV DATA_DIR=/data \
    GATEWAY_ADDR=:8080 \
    USERS_ADDR=:8081 \
    PRODUCTS_ADDR=:8082 \
    ORDERS_ADDR=:8083 \
    SEARCH_ADDR=:8084 \
    WEB_ADDR=:8090
VOLUME ["/data"]
EXPOSE 8080 8081 8082 8083 8084 8090
USER 65532:65532
ENTRYPOINT ["/marketplace"]
CMD ["serve"]
