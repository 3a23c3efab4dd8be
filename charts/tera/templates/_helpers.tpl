{{- define "tera.siteName" -}}{{ .Values.siteName | default .Release.Name | trunc 40 | trimSuffix "-" }}{{- end }}

{{- define "tera.labels" -}}
app.kubernetes.io/name: tera
app.kubernetes.io/instance: {{ include "tera.siteName" . }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: tera
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end }}

{{- /* Pods of the site: the labels the operator puts on every target and Job. */ -}}
{{- define "tera.sitePods" -}}
matchLabels:
  app.kubernetes.io/name: tera
  app.kubernetes.io/instance: {{ include "tera.siteName" . }}
{{- end }}

{{- /* A NetworkPolicy peer from {namespaceSelector, podSelector}. A null selector is left
out; an empty one ({}) matches everything, which you must ask for explicitly. */ -}}
{{- define "tera.peer" -}}
{{- $p := .peer }}
{{- if and (kindIs "invalid" $p.namespaceSelector) (kindIs "invalid" $p.podSelector) }}
{{- fail (printf "networkPolicy.%s needs a namespaceSelector or a podSelector" .name) }}
{{- end }}
{{- $out := dict }}
{{- if not (kindIs "invalid" $p.namespaceSelector) }}{{ $_ := set $out "namespaceSelector" $p.namespaceSelector }}{{ end }}
{{- if not (kindIs "invalid" $p.podSelector) }}{{ $_ := set $out "podSelector" $p.podSelector }}{{ end }}
{{- toYaml (list $out) }}
{{- end }}
