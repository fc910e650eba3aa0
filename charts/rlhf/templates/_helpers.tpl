{{/*
Helpers shared by every template. Conventions:
  - helpers that need the chart context and more take a dict: (dict "root" $ "component" "trainer" ...)
  - every pod carries app.kubernetes.io/{name,instance,component}; NetworkPolicies and Service
    selectors match on exactly these three.
*/}}

{{- define "rlhf.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Release-prefixed base name. Truncated to 40 characters so that the longest name derived from it
(KServe's "-reward-predictor-00001" revision suffix, 23 characters) still fits a 63-character DNS label.
*/}}
{{- define "rlhf.fullname" -}}
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

{{- define "rlhf.selectorLabels" -}}
app.kubernetes.io/name: {{ include "rlhf.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "rlhf.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version | replace "+" "_" | trunc 63 }}
{{ include "rlhf.selectorLabels" . }}
app.kubernetes.io/part-of: rlhf
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
{{- end }}

{{/*
The four services: values key -> process name (`rlhf serve NAME`), config section, the env var the
trainer reads its address from, and whether it loads a model.
*/}}
{{- define "rlhf.serviceTable" -}}
policyInference: {name: policy-inference, section: policy_inference, env: RLHF_POLICY_INFERENCE_ADDR, model: true}
rewardScoring: {name: reward-scoring, section: reward_scoring, env: RLHF_REWARD_SCORING_ADDR, model: true}
referenceKl: {name: reference-kl, section: reference_kl, env: RLHF_REFERENCE_KL_ADDR, model: true}
dataStore: {name: data-store, section: data_store, env: RLHF_DATA_STORE_ADDR, model: false}
{{- end }}

{{/* Fully qualified DNS name of a service: (dict "root" $ "name" "policy-inference") */}}
{{- define "rlhf.serviceHost" -}}
{{- printf "%s-%s.%s.svc.%s" (include "rlhf.fullname" .root) .name .root.Release.Namespace .root.Values.clusterDomain }}
{{- end }}

{{/* The RLHF_*_ADDR variables (host:port of each service's gRPC port) for pods that call services;
     the reward model's is the InferenceService's when reward.kserve.enabled (_kserve.tpl). */}}
{{- define "rlhf.serviceAddrEnv" -}}
{{- $root := . -}}
{{- range $key, $svc := fromYaml (include "rlhf.serviceTable" $root) }}
- name: {{ $svc.env }}
  value: {{ include "rlhf.serviceAddr" (dict "root" $root "key" $key) | quote }}
{{- end }}
{{- end }}

{{- define "rlhf.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}

{{/* ---- object store ---- */}}

{{- define "rlhf.s3Endpoint" -}}
{{- if .Values.minio.enabled }}
{{- printf "%s-minio.%s.svc.%s:%d" (include "rlhf.fullname" .) .Release.Namespace .Values.clusterDomain (int .Values.minio.port) }}
{{- else }}
{{- required "externalS3.endpoint (host:port) is required when minio.enabled=false" .Values.externalS3.endpoint }}
{{- end }}
{{- end }}

{{- define "rlhf.s3Secure" -}}
{{- if .Values.minio.enabled }}false{{ else }}{{ .Values.externalS3.secure }}{{ end }}
{{- end }}

{{- define "rlhf.s3SecretName" -}}
{{- if .Values.minio.enabled }}
{{- printf "%s-minio" (include "rlhf.fullname" .) }}
{{- else }}
{{- required "externalS3.existingSecret is required when minio.enabled=false" .Values.externalS3.existingSecret }}
{{- end }}
{{- end }}

{{/*
S3 endpoint and credentials. The variable names follow config.store.access_key_env /
secret_key_env (the loader's defaults are AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY); the keys
inside the Secret are the chart's own (MinIO) or externalS3.accessKeyKey / secretKeyKey.
*/}}
{{- define "rlhf.s3Env" -}}
{{- $store := (.Values.config | default dict).store | default dict -}}
{{- /* With its scheme: code that opens a store from a URI alone (rlhf.storage.s3.connect) reads
     http vs https from here. */}}
- name: RLHF_S3_ENDPOINT
  value: {{ printf "%s://%s" (ternary "https" "http" (eq (include "rlhf.s3Secure" .) "true")) (include "rlhf.s3Endpoint" .) | quote }}
- name: {{ $store.access_key_env | default "AWS_ACCESS_KEY_ID" }}
  valueFrom:
    secretKeyRef:
      name: {{ include "rlhf.s3SecretName" . }}
      key: {{ ternary "AWS_ACCESS_KEY_ID" .Values.externalS3.accessKeyKey .Values.minio.enabled }}
- name: {{ $store.secret_key_env | default "AWS_SECRET_ACCESS_KEY" }}
  valueFrom:
    secretKeyRef:
      name: {{ include "rlhf.s3SecretName" . }}
      key: {{ ternary "AWS_SECRET_ACCESS_KEY" .Values.externalS3.secretKeyKey .Values.minio.enabled }}
{{- end }}

{{/*
config.yaml: .Values.config deep-merged with the keys the chart owns (see values.yaml), the
chart's keys winning so the file always agrees with the objects rendered next to it. With
reward.kserve.enabled, services.reward_scoring.host/port name the InferenceService and
reward_serving gets the keys of rlhf.kserve.config.
*/}}
{{/* The data Job's RECORD_SET=SOURCE arguments, from values data.sources (a YAML list). */}}
{{- define "rlhf.dataSources" -}}
{{- $args := list }}
{{- range $set, $source := .Values.data.sources }}
{{- $args = append $args (printf "%s=%s" $set $source) }}
{{- end }}
{{- toYaml $args }}
{{- end }}

{{- define "rlhf.configYaml" -}}
{{- $root := . }}
{{- $bucketUri := printf "s3://%s" .Values.store.bucket }}
{{- $services := dict }}
{{- range $key, $svc := fromYaml (include "rlhf.serviceTable" $root) }}
{{- $v := index $root.Values.services $key }}
{{- $s := dict "host" (include "rlhf.serviceHost" (dict "root" $root "name" $svc.name)) "port" (int $v.port) "metrics_port" (int $v.metricsPort) "grace_seconds" (float64 $v.graceSeconds) }}
{{- if $svc.model }}
{{- $_ := set $s "model" $v.model }}
{{- else }}
{{- $_ := set $s "store" $bucketUri }}
{{- end }}
{{- if and (eq $key "rewardScoring") (include "rlhf.kserve.on" $root) }}
{{- $_ := set $s "host" (include "rlhf.kserve.host" $root) }}
{{- $_ := set $s "port" (int (include "rlhf.kserve.clientGrpcPort" $root)) }}
{{- end }}
{{- $_ := set $services $svc.section $s }}
{{- end }}
{{- $store := dict "uri" $bucketUri "endpoint" (include "rlhf.s3Endpoint" .) "secure" (eq (include "rlhf.s3Secure" .) "true") }}
{{- $owned := dict "store" $store "services" $services "ppo" (dict "metrics_port" (int .Values.trainer.metricsPort)) }}
{{- if include "rlhf.kserve.on" . }}
{{- $_ := set $owned "reward_serving" (fromYaml (include "rlhf.kserve.config" .)) }}
{{- end }}
{{- $config := deepCopy (.Values.config | default dict) }}
{{- if .Values.labelStudio.enabled }}
{{- /* The in-cluster Label Studio, unless config.label.label_studio.url names another. */}}
{{- $url := printf "http://%s.%s.svc.%s:%d" (include "rlhf.labelStudio.name" .) .Release.Namespace .Values.clusterDomain (int .Values.labelStudio.port) }}
{{- $config = mustMergeOverwrite (dict "label" (dict "label_studio" (dict "url" $url))) $config }}
{{- end }}
{{- toYaml (mustMergeOverwrite $config $owned) }}
{{- end }}

{{/* ---- pods ---- */}}

{{/* true when a pod with `gpus` GPUs actually requests them: (dict "root" $ "gpus" N) */}}
{{- define "rlhf.usesGpu" -}}
{{- if and .root.Values.gpu.enabled (gt (int .gpus) 0) }}true{{ end }}
{{- end }}

{{/*
Container resources with the GPU count folded into limits (extended resources are requested by
their limit). Every quantity is rendered as a string, as the API's Quantity type expects.
(dict "root" $ "resources" .resources "gpus" .gpus)
*/}}
{{- define "rlhf.resources" -}}
{{- $res := deepCopy (.resources | default dict) }}
{{- if include "rlhf.usesGpu" . }}
{{- $limits := $res.limits | default dict }}
{{- $_ := set $limits .root.Values.gpu.resourceName (int .gpus) }}
{{- $_ := set $res "limits" $limits }}
{{- end }}
{{- $out := dict }}
{{- range $kind, $quantities := $res }}
{{- $strings := dict }}
{{- range $name, $quantity := $quantities }}
{{- $_ := set $strings $name (toString $quantity) }}
{{- end }}
{{- $_ := set $out $kind $strings }}
{{- end }}
{{- toYaml $out }}
{{- end }}

{{/* nodeSelector / tolerations / affinity of a pod; GPU pods also get gpu.tolerations. */}}
{{- define "rlhf.scheduling" -}}
{{- with .spec.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- $tolerations := .spec.tolerations | default list }}
{{- if include "rlhf.usesGpu" (dict "root" .root "gpus" (.spec.gpus | default 0)) }}
{{- $tolerations = concat $tolerations .root.Values.gpu.tolerations }}
{{- end }}
{{- with $tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .spec.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/* Pod-level fields every rlhf pod shares. */}}
{{- define "rlhf.podCommon" -}}
serviceAccountName: {{ include "rlhf.serviceAccountName" . }}
automountServiceAccountToken: false
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
{{- end }}

{{/* Environment every rlhf container gets. The root filesystem is read-only: caches go to /tmp
     or, for the converted demo model, to the shared workspace. */}}
{{- define "rlhf.commonEnv" -}}
- name: PYTHONUNBUFFERED
  value: "1"
- name: HOME
  value: /tmp
- name: XDG_CACHE_HOME
  value: /tmp/.cache
- name: HF_HOME
  value: /tmp/.cache/huggingface
- name: RLHF_CACHE
  value: {{ printf "%s/.cache/rlhf" .Values.workspace.mountPath | quote }}
{{- if .Values.serviceAuth.enabled }}
- name: RLHF_SERVICE_TOKEN_FILE
  value: {{ include "rlhf.serviceTokensFile" . }}
{{- end }}
{{- end }}

{{/* The internal services' bearer tokens (serviceAuth), as every pod of the release mounts them. */}}
{{- define "rlhf.serviceTokensFile" -}}
/var/run/secrets/rlhf/service-auth/tokens
{{- end }}

{{- define "rlhf.serviceAuthSecret" -}}
{{- .Values.serviceAuth.existingSecret | default (printf "%s-service-auth" (include "rlhf.fullname" .)) }}
{{- end }}

{{- define "rlhf.volumeMounts" -}}
- name: config
  mountPath: /etc/rlhf
  readOnly: true
- name: scripts
  mountPath: /opt/rlhf/scripts
  readOnly: true
- name: workspace
  mountPath: {{ .Values.workspace.mountPath }}
- name: tmp
  mountPath: /tmp
{{- include "rlhf.serviceAuthMount" . }}
{{- end }}

{{- define "rlhf.serviceAuthMount" -}}
{{- if .Values.serviceAuth.enabled }}
- name: service-auth
  mountPath: {{ dir (include "rlhf.serviceTokensFile" .) }}
  readOnly: true
{{- end }}
{{- end }}

{{- define "rlhf.serviceAuthVolume" -}}
{{- if .Values.serviceAuth.enabled }}
- name: service-auth
  secret:
    secretName: {{ include "rlhf.serviceAuthSecret" . }}
    items:
      - key: tokens
        path: tokens
{{- end }}
{{- end }}

{{- define "rlhf.volumes" -}}
- name: config
  configMap:
    name: {{ include "rlhf.fullname" . }}-config
- name: scripts
  configMap:
    name: {{ include "rlhf.fullname" . }}-scripts
- name: workspace
  persistentVolumeClaim:
    claimName: {{ include "rlhf.workspaceClaim" . }}
- name: tmp
  emptyDir: {}
{{- include "rlhf.serviceAuthVolume" . }}
{{- end }}

{{- define "rlhf.workspaceClaim" -}}
{{- .Values.workspace.existingClaim | default (printf "%s-workspace" (include "rlhf.fullname" .)) }}
{{- end }}

{{- define "rlhf.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- .Values.serviceAccount.name | default (include "rlhf.fullname" .) }}
{{- else }}
{{- .Values.serviceAccount.name | default "default" }}
{{- end }}
{{- end }}

{{/* Annotations that roll a pod when config.yaml or the helper scripts change. */}}
{{- define "rlhf.checksums" -}}
checksum/config: {{ include "rlhf.configYaml" . | sha256sum }}
checksum/scripts: {{ (.Files.Glob "files/scripts/*").AsConfig | sha256sum }}
{{- end }}

{{/* Prometheus scrape annotations for a pod serving /metrics on `port`. */}}
{{- define "rlhf.scrapeAnnotations" -}}
{{- if .root.Values.metrics.podAnnotations -}}
prometheus.io/scrape: "true"
prometheus.io/port: {{ .port | int | toString | quote }}
prometheus.io/path: /metrics
{{- end }}
{{- end }}

{{/*
An init container running files/scripts/wait_for.py: blocks until gRPC services answer SERVING
and/or models exist. (dict "root" $ "name" "wait-for-model" "args" (list "--model" "...")
["workspaceReadOnly" true]: the workspace read-only, for the InferenceService's pod;
"extraMounts" (a YAML list): more volumeMounts).
*/}}
{{- define "rlhf.waitContainer" -}}
- name: {{ .name }}
  image: {{ include "rlhf.image" .root }}
  imagePullPolicy: {{ .root.Values.image.pullPolicy }}
  command:
    - python
    - /opt/rlhf/scripts/wait_for.py
    - --config
    - /etc/rlhf/config.yaml
    {{- range .args }}
    - {{ . | quote }}
    {{- end }}
  workingDir: {{ .root.Values.workspace.mountPath }}
  env:
    {{- include "rlhf.commonEnv" .root | nindent 4 }}
    {{- include "rlhf.s3Env" .root | nindent 4 }}
  volumeMounts:
    {{- if .workspaceReadOnly }}
    - {name: config, mountPath: /etc/rlhf, readOnly: true}
    - {name: scripts, mountPath: /opt/rlhf/scripts, readOnly: true}
    - {name: workspace, mountPath: {{ .root.Values.workspace.mountPath }}, readOnly: true}
    - {name: tmp, mountPath: /tmp}
    {{- else }}
    {{- include "rlhf.volumeMounts" .root | nindent 4 }}
    {{- end }}
    {{- with .extraMounts | default "" | trim }}
    {{- . | nindent 4 }}
    {{- end }}
  resources:
    requests: {cpu: 50m, memory: 128Mi}
    limits: {memory: 512Mi}
  securityContext:
    {{- toYaml .root.Values.securityContext | nindent 4 }}
{{- end }}

{{/* ---- Label Studio (labelStudio.enabled) ---- */}}

{{- define "rlhf.labelStudio.name" -}}
{{- printf "%s-label-studio" (include "rlhf.fullname" .) -}}
{{- end }}

{{/* The Secret holding Label Studio's admin account and API token (keys username, password, token). */}}
{{- define "rlhf.labelStudio.secret" -}}
{{- .Values.labelStudio.existingSecret | default (include "rlhf.labelStudio.name" .) -}}
{{- end }}

{{/* The label and eval stages' $LABEL_STUDIO_TOKEN (config label.label_studio.token_env's default). */}}
{{- define "rlhf.labelStudio.clientEnv" -}}
{{- if .Values.labelStudio.enabled }}
- name: LABEL_STUDIO_TOKEN
  valueFrom:
    secretKeyRef:
      name: {{ include "rlhf.labelStudio.secret" . }}
      key: token
{{- end }}
{{- end }}
