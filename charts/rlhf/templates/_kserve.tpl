{{/*
The reward model as a KServe InferenceService (reward.kserve.enabled): helpers shared by
reward-kserve.yaml and by every template that addresses the reward model (trainer, stages, NOTES,
`helm test`, NetworkPolicies, config.yaml). With it off, reward-scoring stays the plain Deployment
of services.yaml and none of this changes anything.

Ports of `rlhf serve reward-kserve` (config reward_serving.http_port / grpc_port; KServe's defaults
for custom predictors): REST, /metrics and the OIP health endpoints on 8080 ("http1"); OIP gRPC,
rlhf.v1.RewardScoring and grpc.health.v1 on 8081 ("h2c").
*/}}

{{- define "rlhf.kserve.httpPort" -}}8080{{- end }}
{{- define "rlhf.kserve.grpcPort" -}}8081{{- end }}
{{- define "rlhf.kserve.authDir" -}}/etc/rlhf/reward-auth{{- end }}
{{- define "rlhf.kserve.tlsDir" -}}/etc/rlhf/reward-tls{{- end }}

{{/* "true" when the InferenceService replaces the reward-scoring Deployment. */}}
{{- define "rlhf.kserve.on" -}}
{{- if .Values.reward.kserve.enabled }}true{{ end }}
{{- end }}

{{/* "true" for KServe's Deployment-based mode (Standard, formerly RawDeployment); "" for Knative. */}}
{{- define "rlhf.kserve.standard" -}}
{{- if has .Values.reward.kserve.deploymentMode (list "Standard" "RawDeployment") }}true{{ end }}
{{- end }}

{{/* The InferenceService's name; KServe names the predictor's Service NAME-predictor. */}}
{{- define "rlhf.kserve.name" -}}
{{- printf "%s-reward" (include "rlhf.fullname" .) }}
{{- end }}

{{- define "rlhf.kserve.host" -}}
{{- printf "%s-predictor.%s.svc.%s" (include "rlhf.kserve.name" .) .Release.Namespace .Values.clusterDomain }}
{{- end }}

{{/*
The gRPC port callers dial on the predictor's Service. Standard: KServe maps the first container
port (http1 8080) to Service port 80 and every further port to its own number, so gRPC is 8081.
Knative: the one declared port (h2c 8081) is routed on the Knative Service's port 80.
*/}}
{{- define "rlhf.kserve.clientGrpcPort" -}}
{{- if include "rlhf.kserve.standard" . }}{{ include "rlhf.kserve.grpcPort" . }}{{ else }}80{{ end }}
{{- end }}

{{/* The model directory served as version "1" ("" when versions come from reward.kserve.repository). */}}
{{- define "rlhf.kserve.model" -}}
{{- if not .Values.reward.kserve.repository }}
{{- .Values.reward.kserve.model | default .Values.services.rewardScoring.model }}
{{- end }}
{{- end }}

{{/* "true" when the auth Secret is mounted and the release's callers must send a token. */}}
{{- define "rlhf.kserve.auth" -}}
{{- if and .Values.reward.kserve.enabled .Values.reward.kserve.auth.existingSecret }}true{{ end }}
{{- end }}

{{/*
host:port of a service's gRPC endpoint, for the RLHF_*_ADDR variables and the init containers'
health waits: (dict "root" $ "key" "rewardScoring"). The reward model's is the InferenceService
when reward.kserve.enabled.
*/}}
{{- define "rlhf.serviceAddr" -}}
{{- $root := .root }}
{{- if and (eq .key "rewardScoring") (include "rlhf.kserve.on" $root) }}
{{- printf "%s:%s" (include "rlhf.kserve.host" $root) (include "rlhf.kserve.clientGrpcPort" $root) }}
{{- else }}
{{- $svc := index (fromYaml (include "rlhf.serviceTable" $root)) .key }}
{{- printf "%s:%d" (include "rlhf.serviceHost" (dict "root" $root "name" $svc.name)) (int (index $root.Values.services .key).port) }}
{{- end }}
{{- end }}

{{/* rlhf.serviceTable without reward-scoring when the InferenceService replaces it: the services
     the chart runs as Deployments. */}}
{{- define "rlhf.deployedServices" -}}
{{- $table := fromYaml (include "rlhf.serviceTable" .) }}
{{- if include "rlhf.kserve.on" . }}
{{- $table = omit $table "rewardScoring" }}
{{- end }}
{{- toYaml $table }}
{{- end }}

{{/*
config.yaml's reward_serving keys the chart owns when reward.kserve.enabled (see values.yaml):
host, ports, model, grace period, mounted Secret paths, and the batching / rate-limit / reload
values that are set.
*/}}
{{- define "rlhf.kserve.config" -}}
{{- $k := .Values.reward.kserve }}
{{- $auth := include "rlhf.kserve.authDir" . }}
{{- $tls := include "rlhf.kserve.tlsDir" . }}
{{- $c := dict "host" "0.0.0.0" "grace_seconds" (float64 $k.graceSeconds) "model_name" $k.modelName "model" (include "rlhf.kserve.model" .) "repository" $k.repository
      "http_port" (int (include "rlhf.kserve.httpPort" .)) "grpc_port" (int (include "rlhf.kserve.grpcPort" .))
      "tokens_file" (ternary (printf "%s/tokens" $auth) "" (ne $k.auth.existingSecret ""))
      "tls_cert_file" (ternary (printf "%s/tls.crt" $tls) "" (ne $k.tls.existingSecret ""))
      "tls_key_file" (ternary (printf "%s/tls.key" $tls) "" (ne $k.tls.existingSecret "")) }}
{{- if not (kindIs "invalid" $k.reloadIntervalSeconds) }}
{{- $_ := set $c "reload_interval_s" (float64 $k.reloadIntervalSeconds) }}
{{- end }}
{{- if not (kindIs "invalid" $k.keepVersions) }}
{{- $_ := set $c "keep_versions" (int $k.keepVersions) }}
{{- end }}
{{- range $key, $field := dict "maxBatchSize" "max_batch_size" "maxQueue" "max_queue" "maxBatchTokens" "max_batch_tokens" }}
{{- $v := index $k.batching $key }}
{{- if not (kindIs "invalid" $v) }}
{{- $_ := set $c $field (int $v) }}
{{- end }}
{{- end }}
{{- if not (kindIs "invalid" $k.batching.batchWaitMs) }}
{{- $_ := set $c "batch_wait_ms" (float64 $k.batching.batchWaitMs) }}
{{- end }}
{{- if not (kindIs "invalid" $k.rateLimit.perSecond) }}
{{- $_ := set $c "rate_limit_per_second" (float64 $k.rateLimit.perSecond) }}
{{- end }}
{{- if not (kindIs "invalid" $k.rateLimit.burst) }}
{{- $_ := set $c "rate_limit_burst" (int $k.rateLimit.burst) }}
{{- end }}
{{- toYaml $c }}
{{- end }}

{{/* "true" when the InferenceService serves TLS. */}}
{{- define "rlhf.kserve.tls" -}}
{{- if and .Values.reward.kserve.enabled .Values.reward.kserve.tls.existingSecret }}true{{ end }}
{{- end }}

{{/*
What the release's own callers of the reward model (trainer, eval; pipelines reuse these) need,
each a read-only Secret volume holding just one key:
  reward-token  .../reward-token/token when auth is on: RLHF_REWARD_TOKEN_FILE; RewardScoringClient
                sends its first non-empty line as `authorization: Bearer ...`. From
                auth.clientSecret (key `token`) when given, else the `tokens` key of auth.existingSecret.
  reward-ca     .../reward-ca/ca.crt when TLS is on: RLHF_REWARD_CA_FILE, the CA bundle the client
                trusts; key tls.caKey of the TLS Secret (never its private key).
Each helper renders a YAML list (empty when neither is on).
*/}}
{{- define "rlhf.kserve.clientDir" -}}/var/run/secrets/rlhf{{- end }}
{{- define "rlhf.kserve.caFile" -}}{{ include "rlhf.kserve.clientDir" . }}/reward-ca/ca.crt{{- end }}

{{- define "rlhf.kserve.clientEnv" -}}
{{- if include "rlhf.kserve.auth" . }}
- name: RLHF_REWARD_TOKEN_FILE
  value: {{ printf "%s/reward-token/token" (include "rlhf.kserve.clientDir" .) | quote }}
{{- end }}
{{- if include "rlhf.kserve.tls" . }}
- name: RLHF_REWARD_CA_FILE
  value: {{ include "rlhf.kserve.caFile" . | quote }}
{{- end }}
{{- end }}

{{- define "rlhf.kserve.clientMount" -}}
{{- if include "rlhf.kserve.auth" . }}
- name: reward-token
  mountPath: {{ include "rlhf.kserve.clientDir" . }}/reward-token
  readOnly: true
{{- end }}
{{- if include "rlhf.kserve.tls" . }}
- name: reward-ca
  mountPath: {{ include "rlhf.kserve.clientDir" . }}/reward-ca
  readOnly: true
{{- end }}
{{- end }}

{{- define "rlhf.kserve.clientVolume" -}}
{{- $k := .Values.reward.kserve }}
{{- if include "rlhf.kserve.auth" . }}
- name: reward-token
  secret:
    secretName: {{ $k.auth.clientSecret | default $k.auth.existingSecret }}
    defaultMode: 0440
    items:
      - key: {{ ternary "token" "tokens" (ne $k.auth.clientSecret "") }}
        path: token
{{- end }}
{{- if include "rlhf.kserve.tls" . }}
- name: reward-ca
  secret:
    secretName: {{ $k.tls.existingSecret }}
    defaultMode: 0440
    items:
      - key: {{ $k.tls.caKey }}
        path: ca.crt
{{- end }}
{{- end }}

{{- /* Only the CA (for pods that check health over TLS and send no token: `helm test`). */}}
{{- define "rlhf.kserve.caMount" -}}
{{- if include "rlhf.kserve.tls" . }}
- name: reward-ca
  mountPath: {{ include "rlhf.kserve.clientDir" . }}/reward-ca
  readOnly: true
{{- end }}
{{- end }}

{{- define "rlhf.kserve.caVolume" -}}
{{- if include "rlhf.kserve.tls" . }}
- name: reward-ca
  secret:
    secretName: {{ .Values.reward.kserve.tls.existingSecret }}
    defaultMode: 0440
    items:
      - key: {{ .Values.reward.kserve.tls.caKey }}
        path: ca.crt
{{- end }}
{{- end }}

{{/*
wait_for.py arguments that wait for the gRPC health of the services named in .keys:
(dict "root" $ "keys" (list "dataStore" "rewardScoring")). The reward model's InferenceService is
checked over TLS (trusting reward-ca's ca.crt) when it serves TLS; a pod using these args then
needs the reward-ca volume (rlhf.kserve.clientVolume or caVolume) mounted (clientMount or caMount).
*/}}
{{- define "rlhf.grpcWaitArgs" -}}
{{- $root := .root }}
{{- $args := list }}
{{- $tls := false }}
{{- range .keys }}
{{- if and (eq . "rewardScoring") (include "rlhf.kserve.tls" $root) }}
{{- $args = concat $args (list "--grpc-tls" (include "rlhf.serviceAddr" (dict "root" $root "key" .))) }}
{{- $tls = true }}
{{- else }}
{{- $args = concat $args (list "--grpc" (include "rlhf.serviceAddr" (dict "root" $root "key" .))) }}
{{- end }}
{{- end }}
{{- if $tls }}
{{- $args = concat $args (list "--tls-ca" (include "rlhf.kserve.caFile" $root)) }}
{{- end }}
{{- toYaml $args }}
{{- end }}

{{/*
Render-time checks the schema cannot express (it cannot compare two values or look across
sections). Included by reward-kserve.yaml.
*/}}
{{- define "rlhf.kserve.validate" -}}
{{- $k := .Values.reward.kserve }}
{{- if not (regexMatch "^[a-z]" (include "rlhf.kserve.name" .)) }}
{{- fail (printf "InferenceService name %q must start with a letter (KServe's rule): set fullnameOverride" (include "rlhf.kserve.name" .)) }}
{{- end }}
{{- if lt (int $k.maxReplicas) (int $k.minReplicas) }}
{{- fail (printf "reward.kserve.maxReplicas (%d) must be >= reward.kserve.minReplicas (%d)" (int $k.maxReplicas) (int $k.minReplicas)) }}
{{- end }}
{{- end }}
