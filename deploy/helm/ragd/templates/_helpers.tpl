{{/* Names and labels. */}}
{{- define "ragd.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "ragd.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else if contains (include "ragd.name" .) .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name (include "ragd.name" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "ragd.selectorLabels" -}}
app.kubernetes.io/name: {{ include "ragd.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "ragd.labels" -}}
{{ include "ragd.selectorLabels" . }}
app.kubernetes.io/part-of: ragd
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{- define "ragd.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{- define "ragd.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "ragd.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "ragd.secretName" -}}
{{- .Values.secrets.existingSecret | default (printf "%s-secrets" (include "ragd.fullname" .)) -}}
{{- end -}}

{{- define "ragd.databaseUrl" -}}
{{- if .Values.postgresql.enabled -}}
{{- $pg := .Values.postgresql -}}
{{- printf "postgresql+psycopg://%s:%s@%s-postgresql:5432/%s" $pg.auth.username (required "postgresql.auth.password is required when postgresql.enabled" $pg.auth.password) (include "ragd.fullname" .) $pg.auth.database -}}
{{- else -}}
{{- .Values.secrets.databaseUrl -}}
{{- end -}}
{{- end -}}

{{- define "ragd.redisUrl" -}}
{{- if .Values.redisSentinel.enabled -}}
{{- printf "redis+sentinel://%s-redis-sentinel:26379/%s/0" (include "ragd.fullname" .) .Values.redisSentinel.masterName -}}
{{- else if .Values.redis.enabled -}}
{{- printf "redis://%s-redis:6379/0" (include "ragd.fullname" .) -}}
{{- else -}}
{{- .Values.secrets.redisUrl -}}
{{- end -}}
{{- end -}}

{{/* The env of every ragd container (api, worker, migrations). */}}
{{- define "ragd.envFrom" -}}
- configMapRef:
    name: {{ include "ragd.fullname" . }}-config
- secretRef:
    name: {{ include "ragd.secretName" . }}
{{- end -}}

{{- define "ragd.volumes" -}}
- name: tmp
  emptyDir:
    sizeLimit: 512Mi
- name: data
  emptyDir:
    sizeLimit: 1Gi
{{- end -}}

{{- define "ragd.volumeMounts" -}}
- name: tmp
  mountPath: /tmp
- name: data
  mountPath: /var/lib/ragd
{{- end -}}

{{/* The release's track: canary when canary.enabled. */}}
{{- define "ragd.track" -}}
{{- if .Values.canary.enabled -}}canary{{- else -}}{{ .Values.track }}{{- end -}}
{{- end -}}

{{/* ragd's own pods (api, worker, migrations), not the datastores the chart may run. */}}
{{- define "ragd.appPodSelector" -}}
matchLabels:
  app.kubernetes.io/name: {{ include "ragd.name" . }}
  app.kubernetes.io/instance: {{ .Release.Name }}
matchExpressions:
  - key: app.kubernetes.io/component
    operator: In
    values: ["api", "worker", "migrate"]
{{- end -}}

{{/* Labels of a datastore/component the chart runs. */}}
{{- define "ragd.componentLabels" -}}
{{ include "ragd.selectorLabels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* A restricted-profile container securityContext for the components' containers. */}}
{{- define "ragd.restrictedContainer" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
capabilities:
  drop: ["ALL"]
{{- end -}}

{{/* The release that runs the datastores: this one, or for a canary the stable release. */}}
{{- define "ragd.dataInstance" -}}
{{- if .Values.canary.enabled -}}
{{- required "canary.stableRelease (the stable release's name) is required when canary.enabled" .Values.canary.stableRelease -}}
{{- else -}}
{{- .Release.Name -}}
{{- end -}}
{{- end -}}

{{/* The name prefix of the datastores' objects (the stable release's for a canary). */}}
{{- define "ragd.dataFullname" -}}
{{- if .Values.canary.enabled -}}
{{- $r := include "ragd.dataInstance" . -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else if contains (include "ragd.name" .) $r -}}
{{- $r | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" $r (include "ragd.name" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- else -}}
{{- include "ragd.fullname" . -}}
{{- end -}}
{{- end -}}

{{/* ragd's app pods of any release in the namespace (a canary's too), as a peer. */}}
{{- define "ragd.anyAppPodSelector" -}}
matchLabels:
  app.kubernetes.io/name: {{ include "ragd.name" . }}
matchExpressions:
  - key: app.kubernetes.io/component
    operator: In
    values: ["api", "worker", "migrate"]
{{- end -}}
