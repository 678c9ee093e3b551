{{/* Chart name. */}}
{{- define "vcf.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name: <release>-<chart>, unless the release name already contains the chart name. */}}
{{- define "vcf.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "vcf.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Kubernetes recommended labels (https://kubernetes.io/docs/concepts/overview/working-with-objects/common-labels/). */}}
{{- define "vcf.labels" -}}
helm.sh/chart: {{ include "vcf.chart" . }}
{{ include "vcf.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: vcf-sentinel
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{- define "vcf.selectorLabels" -}}
app.kubernetes.io/name: {{ include "vcf.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Labels of one role (component: api | worker). Call with (dict "root" $ "component" "api"). */}}
{{- define "vcf.componentLabels" -}}
{{ include "vcf.labels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "vcf.componentSelectorLabels" -}}
{{ include "vcf.selectorLabels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "vcf.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "vcf.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "vcf.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/*
One setting as the string the service parses from its environment: maps and lists as JSON, whole
numbers without exponent (Helm reads YAML numbers as float64), null as "" (= unset).
*/}}
{{- define "vcf.envValue" -}}
{{- $v := . }}
{{- if or (kindIs "map" $v) (kindIs "slice" $v) }}
{{- toJson $v }}
{{- else if kindIs "invalid" $v }}
{{- else if kindIs "float64" $v }}
{{- if eq $v (float64 (int64 $v)) }}{{ int64 $v }}{{ else }}{{ $v }}{{ end }}
{{- else }}
{{- toString $v }}
{{- end }}
{{- end }}

{{/* Does REDIS_URL carry credentials (user:password@)? "true" or "". */}}
{{- define "vcf.redisHasCredentials" -}}
{{- if regexMatch "^[a-z]+://[^/]*@" (toString .Values.redis.url) }}true{{ end }}
{{- end }}

{{/* Does any DICOMweb source carry auth? "true" or "". */}}
{{- define "vcf.dicomwebHasCredentials" -}}
{{- range $name, $src := .Values.dicomweb.sources }}
{{- if and (kindIs "map" $src) $src.auth }}true{{ end }}
{{- end }}
{{- end }}

{{/*
The chart-managed Secret's data (YAML map of NAME: plain value), empty with existingSecret.
Secrets never go in the ConfigMap: API_TOKEN and FHIR_CLIENT_SECRET always come from here, REDIS_URL
and DICOMWEB_SOURCES when they carry credentials.
*/}}
{{- define "vcf.secretData" -}}
{{- if not .Values.existingSecret.name }}
{{- range $k := list "API_TOKEN" "FHIR_CLIENT_SECRET" }}
{{- $v := index $.Values.secrets $k }}
{{- if $v }}
{{ $k }}: {{ toString $v | quote }}
{{- end }}
{{- end }}
{{- if include "vcf.redisHasCredentials" . }}
REDIS_URL: {{ toString .Values.redis.url | quote }}
{{- end }}
{{- if include "vcf.dicomwebHasCredentials" . }}
DICOMWEB_SOURCES: {{ toJson .Values.dicomweb.sources | quote }}
{{- end }}
{{- end }}
{{- end }}

{{/* Names held in the Secret (chart-managed or existing), as a JSON list. */}}
{{- define "vcf.secretKeys" -}}
{{- if .Values.existingSecret.name }}
{{- toJson (.Values.existingSecret.keys | default list) }}
{{- else }}
{{- toJson (keys (include "vcf.secretData" . | fromYaml | default dict) | sortAlpha) }}
{{- end }}
{{- end }}

{{/* Is a Secret loaded into the pods at all? "true" or "". */}}
{{- define "vcf.hasSecret" -}}
{{- if or .Values.existingSecret.name (include "vcf.secretData" . | trim) }}true{{ end }}
{{- end }}

{{- define "vcf.secretName" -}}
{{- default (include "vcf.fullname" .) .Values.existingSecret.name }}
{{- end }}

{{/*
The ConfigMap's data (YAML map NAME: "string"): every non-secret setting, by the names of
src/config/schema.ts, minus whatever the Secret holds. Fails on values that would leak a secret.
*/}}
{{- define "vcf.configData" -}}
{{- $secretKeys := include "vcf.secretKeys" . | fromJsonArray }}
{{- range $k := list "REDIS_URL" "DICOMWEB_SOURCES" "API_TOKEN" "FHIR_CLIENT_SECRET" }}
{{- if hasKey $.Values.config $k }}
{{- fail (printf "config.%s is not allowed: set it through %s" $k (ternary "redis.url" (ternary "dicomweb.sources" (printf "secrets.%s or existingSecret" $k) (eq $k "DICOMWEB_SOURCES")) (eq $k "REDIS_URL"))) }}
{{- end }}
{{- end }}
{{- if .Values.existingSecret.name }}
{{- if and (include "vcf.redisHasCredentials" .) (not (has "REDIS_URL" $secretKeys)) }}
{{- fail "redis.url carries credentials: with existingSecret, put REDIS_URL in that Secret and list it in existingSecret.keys" }}
{{- end }}
{{- if and (include "vcf.dicomwebHasCredentials" .) (not (has "DICOMWEB_SOURCES" $secretKeys)) }}
{{- fail "dicomweb.sources carry credentials: with existingSecret, put DICOMWEB_SOURCES in that Secret and list it in existingSecret.keys" }}
{{- end }}
{{- end }}
{{- $data := dict }}
{{- range $k, $v := .Values.config }}
{{- $_ := set $data $k (include "vcf.envValue" $v) }}
{{- end }}
{{- $_ := set $data "REDIS_URL" (toString .Values.redis.url) }}
{{- $_ := set $data "DICOMWEB_SOURCES" (toJson .Values.dicomweb.sources) }}
{{- range $k := $secretKeys }}
{{- $_ := unset $data $k }}
{{- end }}
{{- range $k := keys $data | sortAlpha }}
{{ $k }}: {{ index $data $k | quote }}
{{- end }}
{{- end }}

{{/*
terminationGracePeriodSeconds of a role: longer than preStop sleep + SHUTDOWN_TIMEOUT_MS, so the
drain always finishes before the kubelet sends SIGKILL. Call with (dict "root" $ "role" .Values.api "name" "api").
*/}}
{{- define "vcf.gracePeriod" -}}
{{- $role := .role }}
{{- $shutdownMs := int64 (default .root.Values.config.SHUTDOWN_TIMEOUT_MS (index $role.env "SHUTDOWN_TIMEOUT_MS")) }}
{{- $drain := div (add $shutdownMs 999) 1000 }}
{{- $min := add (int64 $role.preStopSleepSeconds) $drain }}
{{- if $role.terminationGracePeriodSeconds }}
{{- if le (int64 $role.terminationGracePeriodSeconds) $min }}
{{- fail (printf "%s.terminationGracePeriodSeconds (%v) must exceed preStopSleepSeconds + SHUTDOWN_TIMEOUT_MS/1000 (%d)" .name $role.terminationGracePeriodSeconds $min) }}
{{- end }}
{{- int64 $role.terminationGracePeriodSeconds }}
{{- else }}
{{- add $min (int64 (max 1 $role.terminationGraceMarginSeconds)) }}
{{- end }}
{{- end }}

{{/* envFrom of every container: the ConfigMap, then the Secret (later sources win on a shared name). */}}
{{- define "vcf.envFrom" -}}
- configMapRef:
    name: {{ include "vcf.fullname" . }}
{{- if include "vcf.hasSecret" . }}
- secretRef:
    name: {{ include "vcf.secretName" . }}
{{- end }}
{{- end }}

{{/* Pod annotations shared by both roles: roll the pods when config or the chart's Secret changes. */}}
{{- define "vcf.podAnnotations" -}}
checksum/config: {{ include "vcf.configData" . | sha256sum }}
{{- if not .Values.existingSecret.name }}
checksum/secret: {{ include "vcf.secretData" . | sha256sum }}
{{- end }}
{{- if .Values.metrics.podAnnotations }}
prometheus.io/scrape: "true"
prometheus.io/port: {{ include "vcf.envValue" .Values.config.HTTP_PORT | quote }}
prometheus.io/path: /metrics
{{- end }}
{{- end }}

{{/* Default topology spread (nodes, then zones; never blocks scheduling). Call with (dict "root" $ "component" "api" "role" .Values.api). */}}
{{- define "vcf.topologySpread" -}}
{{- if .role.topologySpreadConstraints }}
{{- range .role.topologySpreadConstraints }}
- {{ toYaml (merge (dict) . (dict "labelSelector" (dict "matchLabels" (include "vcf.componentSelectorLabels" $ | fromYaml)))) | nindent 2 | trim }}
{{- end }}
{{- else if .role.defaultTopologySpread }}
- maxSkew: 1
  topologyKey: kubernetes.io/hostname
  whenUnsatisfiable: ScheduleAnyway
  labelSelector:
    matchLabels:
      {{- include "vcf.componentSelectorLabels" . | nindent 6 }}
- maxSkew: 1
  topologyKey: topology.kubernetes.io/zone
  whenUnsatisfiable: ScheduleAnyway
  labelSelector:
    matchLabels:
      {{- include "vcf.componentSelectorLabels" . | nindent 6 }}
{{- end }}
{{- end }}

{{/* Per-role env overrides (NAME: value map) as container env entries. */}}
{{- define "vcf.roleEnv" -}}
{{- range $k, $v := . }}
- name: {{ $k }}
  value: {{ include "vcf.envValue" $v | quote }}
{{- end }}
{{- end }}

{{- /* Egress shared by both roles: DNS, Redis, DICOMweb sources, FHIR (+ token endpoint, JWKS), extra. */}}
{{- define "vcf.networkPolicyEgress" -}}
{{- $eg := .Values.networkPolicy.egress }}
- ports:
    - port: 53
      protocol: UDP
    - port: 53
      protocol: TCP
  {{- with $eg.dns.to }}
  to:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- range $name := list "redis" "dicomweb" "fhir" }}
{{- $rule := index $eg $name }}
# {{ $name }}
- ports:
    {{- toYaml $rule.ports | nindent 4 }}
  {{- with $rule.to }}
  to:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end }}
{{- with $eg.extra }}
{{ toYaml . }}
{{- end }}
{{- end }}
