{{- define "tera-operator.name" -}}tera-operator{{- end }}

{{- define "tera-operator.fullname" -}}
{{- if contains "tera-operator" .Release.Name }}{{ .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}{{ printf "%s-tera-operator" .Release.Name | trunc 63 | trimSuffix "-" }}{{ end }}
{{- end }}

{{- define "tera-operator.selectorLabels" -}}
app.kubernetes.io/name: tera-operator
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "tera-operator.labels" -}}
{{ include "tera-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: tera
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end }}

{{- define "tera-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}{{ default (include "tera-operator.fullname" .) .Values.serviceAccount.name }}
{{- else }}{{ default "default" .Values.serviceAccount.name }}{{ end }}
{{- end }}
