{{/*
The Higress WasmPlugin (extensions.higress.io/v1alpha1) of one plugin chart.

Every plugin chart's templates/wasmplugin.yaml is `{{ include "wasm-plugin-lib.wasmplugin" . }}`;
the plugin's identity (name, version, phase, priority, console metadata) is in the chart's values
under `plugin`, generated from the plugin's spec.yaml, so this file never names a plugin.
*/}}
{{- define "wasm-plugin-lib.wasmplugin" -}}
{{- $v := .Values -}}
{{- $p := $v.plugin -}}
{{- $config := include "wasm-plugin-lib.config" . | fromYaml -}}
apiVersion: extensions.higress.io/v1alpha1
kind: WasmPlugin
metadata:
  name: {{ include "wasm-plugin-lib.fullname" . }}
  namespace: {{ $v.namespaceOverride | default .Release.Namespace }}
  labels:
    {{- /* The console lists and edits plugins by these labels (KubernetesConstants.java). */}}
    higress.io/wasm-plugin-name: {{ $p.name | quote }}
    higress.io/wasm-plugin-version: {{ $p.version | quote }}
    higress.io/wasm-plugin-category: {{ $p.category | quote }}
    higress.io/wasm-plugin-built-in: "false"
    app.kubernetes.io/name: {{ $p.name | quote }}
    app.kubernetes.io/instance: {{ .Release.Name | quote }}
    app.kubernetes.io/version: {{ $p.version | quote }}
    app.kubernetes.io/managed-by: {{ .Release.Service | quote }}
    helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | quote }}
    {{- with $v.labels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  annotations:
    higress.io/wasm-plugin-title: {{ $p.title | quote }}
    higress.io/wasm-plugin-description: {{ $p.description | quote }}
    {{- with $p.iconUrl }}
    higress.io/wasm-plugin-icon: {{ . | quote }}
    {{- end }}
    {{- with $v.annotations }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  url: {{ include "wasm-plugin-lib.url" . | quote }}
  {{- with $v.image.sha256 }}
  sha256: {{ . | quote }}
  {{- end }}
  {{- with $v.image.pullPolicy }}
  imagePullPolicy: {{ . }}
  {{- end }}
  {{- with $v.image.pullSecret }}
  imagePullSecret: {{ . | quote }}
  {{- end }}
  phase: {{ $v.phase | default $p.phase }}
  priority: {{ if kindIs "invalid" $v.priority }}{{ $p.priority }}{{ else }}{{ $v.priority }}{{ end }}
  failStrategy: {{ $v.failStrategy }}
  defaultConfigDisable: {{ $v.defaultConfigDisable }}
  {{- if $config.defaultConfig }}
  defaultConfig:
    {{- toYaml $config.defaultConfig | nindent 4 }}
  {{- end }}
  {{- with $v.matchRules }}
  matchRules:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $v.vmConfig }}
  vmConfig:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end -}}

{{/* metadata.name: the console's `<plugin>-<version>` unless fullnameOverride is set. */}}
{{- define "wasm-plugin-lib.fullname" -}}
{{- $p := .Values.plugin -}}
{{- .Values.fullnameOverride | default (printf "%s-%s" $p.name $p.version) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
spec.url: image.url as given (oci://, file://, http(s)://), else
<image.repository>/<plugin>:<image.tag or plugin version> (an oci:// reference).
*/}}
{{- define "wasm-plugin-lib.url" -}}
{{- $v := .Values -}}
{{- if $v.image.url -}}
{{- $v.image.url -}}
{{- else -}}
{{- printf "%s/%s:%s" (trimSuffix "/" $v.image.repository) $v.plugin.name ($v.image.tag | default $v.plugin.version) -}}
{{- end -}}
{{- end -}}

{{/*
defaultConfig with each secretRefs entry's value read from a Kubernetes Secret at install time
(`lookup`). WasmPlugin has no secret reference of its own, so the value is written into the
resource; `helm template` and client-side dry runs cannot read Secrets and fail with a message.
Output: YAML `{defaultConfig: ...}`.
*/}}
{{- define "wasm-plugin-lib.config" -}}
{{- $v := .Values -}}
{{- $ns := $v.namespaceOverride | default .Release.Namespace -}}
{{- $cfg := deepCopy ($v.defaultConfig | default dict) -}}
{{- range $i, $ref := $v.secretRefs -}}
{{- $secret := lookup "v1" "Secret" $ns $ref.secretName -}}
{{- if not $secret -}}
{{- fail (printf "secretRefs[%d]: Secret %s/%s not found; it must exist before install (helm template and --dry-run=client cannot read Secrets: use --dry-run=server)" $i $ns $ref.secretName) -}}
{{- end -}}
{{- if not (hasKey ($secret.data | default dict) $ref.key) -}}
{{- fail (printf "secretRefs[%d]: Secret %s/%s has no key %q" $i $ns $ref.secretName $ref.key) -}}
{{- end -}}
{{- $parts := splitList "." $ref.path -}}
{{- $node := $cfg -}}
{{- range initial $parts -}}
{{- if not (kindIs "map" (get $node .)) -}}
{{- $_ := set $node . dict -}}
{{- end -}}
{{- $node = get $node . -}}
{{- end -}}
{{- $_ := set $node (last $parts) (index $secret.data $ref.key | b64dec) -}}
{{- end -}}
{{- dict "defaultConfig" $cfg | toYaml -}}
{{- end -}}
