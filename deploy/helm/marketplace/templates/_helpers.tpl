{{/* Names, labels and the shared pieces of every template. */}}

{{- define "marketplace.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* fullname is <release>-marketplace, or the release name when it holds the chart's. */}}
{{- define "marketplace.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 40 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 40 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* labels: (dict "root" $ "component" "users") */}}
{{- define "marketplace.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version | replace "+" "_" }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
app.kubernetes.io/part-of: marketplace
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
{{ include "marketplace.selectorLabels" . }}
{{- with .root.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* selectorLabels: (dict "root" $ "component" "users") */}}
{{- define "marketplace.selectorLabels" -}}
app.kubernetes.io/name: {{ include "marketplace.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/* image is the one image, pinned: a tag (appVersion by default) and an optional digest; never latest. */}}
{{- define "marketplace.image" -}}
{{- $tag := .Values.image.tag | default .Chart.AppVersion | toString }}
{{- if or (eq $tag "") (eq $tag "latest") }}
{{- fail "image.tag must name a release (it defaults to the chart's appVersion); \"latest\" is refused" }}
{{- end }}
{{- if .Values.image.digest }}
{{- printf "%s:%s@%s" .Values.image.repository $tag .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository $tag }}
{{- end }}
{{- end }}

{{/* keysSecret holds the services' keys; datastoresSecret the datastores' URLs and passwords. */}}
{{- define "marketplace.keysSecret" -}}
{{- .Values.secrets.existingSecret | default (printf "%s-keys" (include "marketplace.fullname" .)) }}
{{- end }}
{{- define "marketplace.datastoresSecret" -}}
{{- .Values.secrets.existingSecret | default (printf "%s-datastores" (include "marketplace.fullname" .)) }}
{{- end }}

{{/* anyBundled is "true" when the release runs one of the datastores itself. */}}
{{- define "marketplace.anyBundled" -}}
{{- if or .Values.postgresql.bundled .Values.mongodb.bundled .Values.redis.bundled .Values.rabbitmq.bundled }}true{{ end }}
{{- end }}

{{/* embeddedCatalog is "true" when products keeps the catalog in an embedded FerretDB on PostgreSQL. */}}
{{- define "marketplace.embeddedCatalog" -}}
{{- if not (or .Values.mongodb.bundled .Values.mongodb.uri .Values.secrets.existingSecret) }}true{{ end }}
{{- end }}

{{/* migrationsHook: bundled datastores exist only once the release is installed. */}}
{{- define "marketplace.migrationsHook" -}}
{{- if include "marketplace.anyBundled" . }}post-install,pre-upgrade{{ else }}pre-install,pre-upgrade{{ end }}
{{- end }}

{{/* serviceHost is a service's in-cluster name (kube-proxy balanced). (list $ "users") */}}
{{- define "marketplace.serviceHost" -}}
{{- $root := index . 0 }}
{{- printf "%s-%s.%s.svc" (include "marketplace.fullname" $root) (index . 1) $root.Release.Namespace }}
{{- end }}

{{/* serviceURL is the base URL other services call. (list $ "users") */}}
{{- define "marketplace.serviceURL" -}}
{{- $root := index . 0 }}
{{- $name := index . 1 }}
{{- $scheme := ternary "https" "http" (and (eq $name "gateway") $root.Values.tls.gateway.enabled) }}
{{- printf "%s://%s:%v" $scheme (include "marketplace.serviceHost" .) (index $root.Values.services $name).port }}
{{- end }}

{{/* secretEnv is an env entry from a Secret key named as the variable. (list "NAME" "secret" optional) */}}
{{- define "marketplace.secretEnv" -}}
- name: {{ index . 0 }}
  valueFrom:
    secretKeyRef:
      name: {{ index . 1 }}
      key: {{ index . 0 }}
      {{- if index . 2 }}
      optional: true
      {{- end }}
{{- end }}

{{/* datastoreEnv: the variables of the datastores a component uses. (dict "root" $ "uses" (list "postgresql" ...)) */}}
{{- define "marketplace.datastoreEnv" -}}
{{- $root := .root }}
{{- $ds := include "marketplace.datastoresSecret" $root }}
{{- if has "postgresql" .uses }}
{{ include "marketplace.secretEnv" (list "POSTGRES_URL" $ds false) }}
{{- end }}
{{- if has "mongodb" .uses }}
{{ include "marketplace.secretEnv" (list "MONGODB_URI" $ds false) }}
- name: MONGODB_DATABASE
  value: {{ $root.Values.mongodb.database | quote }}
{{- end }}
{{- if has "redis" .uses }}
{{ include "marketplace.secretEnv" (list "REDIS_URL" $ds false) }}
{{- end }}
{{- if has "rabbitmq" .uses }}
{{ include "marketplace.secretEnv" (list "RABBITMQ_URL" $ds false) }}
{{- end }}
{{- end }}

{{/* uses: the datastores a component reaches, as a JSON list; with the
embedded catalog, products reaches PostgreSQL instead of MongoDB. (list $ "users") */}}
{{- define "marketplace.uses" -}}
{{- $root := index . 0 }}
{{- $uses := dict
  "users" (list "postgresql" "rabbitmq")
  "products" (list "mongodb" "redis" "rabbitmq")
  "orders" (list "postgresql" "rabbitmq")
  "search" (list "rabbitmq")
  "web" (list)
  "gateway" (list "redis")
  "migrations" (list "postgresql" "mongodb") }}
{{- $list := index $uses (index . 1) }}
{{- if and (has "mongodb" $list) (include "marketplace.embeddedCatalog" $root) }}
{{- $list = append (without $list "mongodb") "postgresql" | uniq }}
{{- end }}
{{- $list | toJson }}
{{- end }}

{{/* calls: the services each component calls, as a JSON list. */}}
{{- define "marketplace.calls" -}}
{{- $calls := dict
  "users" (list)
  "products" (list "users")
  "orders" (list "users" "products")
  "search" (list "users" "products")
  "web" (list "gateway")
  "gateway" (list "users" "products" "orders" "search" "web")
  "migrations" (list) }}
{{- index $calls . | toJson }}
{{- end }}

{{/* commonEnv: what every service's container gets. */}}
{{- define "marketplace.commonEnv" -}}
- name: LOG_LEVEL
  value: {{ .Values.logLevel | quote }}
- name: DATA_DIR
  value: /data
- name: SHUTDOWN_DELAY
  value: {{ .Values.shutdown.delay | quote }}
- name: SHUTDOWN_TIMEOUT
  value: {{ .Values.shutdown.timeout | quote }}
- name: METRICS_ADDR
  value: {{ printf ":%v" .Values.metricsPort | quote }}
- name: AUTH_ISSUER
  value: {{ .Values.auth.issuer | quote }}
- name: AUTH_AUDIENCE
  value: {{ .Values.auth.audience | quote }}
- name: AUTH_JWKS_URL
  value: {{ printf "%s/.well-known/jwks.json" (include "marketplace.serviceURL" (list . "users")) | quote }}
{{- if .Values.tls.caSecret }}
- name: SSL_CERT_DIR
  value: /etc/marketplace/ca:/etc/ssl/certs
{{- end }}
{{- end }}

{{/* podScheduling: node selection, tolerations and spreading. (dict "root" $ "component" "users") */}}
{{- define "marketplace.podScheduling" -}}
{{- with .root.Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .root.Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .root.Values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- if .root.Values.topologySpread }}
topologySpreadConstraints:
  - maxSkew: 1
    topologyKey: kubernetes.io/hostname
    whenUnsatisfiable: ScheduleAnyway
    labelSelector:
      matchLabels:
        {{- include "marketplace.selectorLabels" . | nindent 8 }}
{{- end }}
{{- end }}
