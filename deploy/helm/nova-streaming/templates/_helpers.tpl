{{/* Chart name, overridable. */}}
{{- define "nova.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Release-qualified name: the Deployment's, the HPA's target, the Services' base. */}}
{{- define "nova.fullname" -}}
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

{{- define "nova.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "nova.selectorLabels" -}}
app.kubernetes.io/name: {{ include "nova.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "nova.labels" -}}
helm.sh/chart: {{ include "nova.chart" . }}
{{ include "nova.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "nova.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "nova.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The Secret holding DATABASE_URL, REDIS_URL and ADMIN_TOKEN. */}}
{{- define "nova.secretName" -}}
{{- default (include "nova.fullname" .) .Values.secrets.existingSecret }}
{{- end }}

{{/*
Refuses settings that deploy but misbehave: several replicas on per-pod state,
or a grace period too short for a clean stream shutdown.
*/}}
{{- define "nova.validate" -}}
{{- $multi := or .Values.autoscaling.enabled (gt (int .Values.replicaCount) 1) }}
{{- if and $multi (not .Values.secrets.existingSecret) }}
{{- if or (not .Values.secrets.databaseUrl) (not .Values.secrets.redisUrl) (not .Values.secrets.adminToken) (not .Values.secrets.internalSecret) }}
{{- fail "more than one replica needs secrets.databaseUrl, secrets.redisUrl, secrets.adminToken and secrets.internalSecret (or secrets.existingSecret): PGlite, in-process events and generated tokens are per pod, and without the internal secret a pod cannot play streams ingested on another" }}
{{- end }}
{{- end }}
{{- if and $multi .Values.persistence.enabled }}
{{- fail "persistence (a ReadWriteOnce PGlite volume) works with one replica only; use secrets.databaseUrl to scale out" }}
{{- end }}
{{- $needed := add (int .Values.preStopSleepSeconds) (div (int .Values.config.shutdownGraceMs) 1000) 5 }}
{{- if lt (int .Values.terminationGracePeriodSeconds) (int $needed) }}
{{- fail (printf "terminationGracePeriodSeconds must be at least preStopSleepSeconds + shutdownGraceMs/1000 + 5 = %d" (int $needed)) }}
{{- end }}
{{- end }}
