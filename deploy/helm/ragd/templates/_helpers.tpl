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
{{- if .Values.redis.enabled -}}
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
