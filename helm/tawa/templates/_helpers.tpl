{{/* Names ------------------------------------------------------------------ */}}

{{- define "tawa.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "tawa.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "tawa.operator.fullname" -}}{{ include "tawa.fullname" . | trunc 54 | trimSuffix "-" }}-operator{{- end -}}
{{- define "tawa.wallet.fullname" -}}{{ include "tawa.fullname" . | trunc 56 | trimSuffix "-" }}-wallet{{- end -}}
{{- define "tawa.console.fullname" -}}{{ include "tawa.fullname" . | trunc 55 | trimSuffix "-" }}-console{{- end -}}
{{- define "tawa.janus.fullname" -}}{{ include "tawa.fullname" . | trunc 57 | trimSuffix "-" }}-janus{{- end -}}

{{/* Janus: its own namespace, so that janus.janus-{env}.svc.cluster.local resolves. */}}
{{- define "tawa.janus.namespace" -}}
{{- default (printf "janus-%s" .Values.env) .Values.janus.namespace -}}
{{- end -}}

{{- define "tawa.secretName" -}}
{{- default (printf "%s-tokens" (include "tawa.fullname" .)) .Values.secrets.existingSecret -}}
{{- end -}}

{{/* In-cluster URL of the wallet, used by the operator and Janus. */}}
{{- define "tawa.wallet.url" -}}
http://{{ include "tawa.wallet.fullname" . }}.{{ .Release.Namespace }}.svc.cluster.local:{{ .Values.wallet.port }}
{{- end -}}

{{- define "tawa.image" -}}
{{ .Values.image.repository }}:{{ default .Chart.AppVersion .Values.image.tag }}
{{- end -}}

{{/* Labels (app.kubernetes.io/* recommended labels) ------------------------- */}}

{{- define "tawa.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/name: {{ include "tawa.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/part-of: tawa
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Call with (dict "root" $ "component" "wallet") */}}
{{- define "tawa.componentLabels" -}}
{{ include "tawa.labels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "tawa.selectorLabels" -}}
app.kubernetes.io/name: {{ include "tawa.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* Pod-level pieces shared by the three workloads --------------------------- */}}

{{- define "tawa.podCommon" -}}
{{- with .root.Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
securityContext:
  {{- toYaml .root.Values.podSecurityContext | nindent 2 }}
{{- with .values.priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
{{- with .values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/* The values' affinity, or else: prefer one replica per node. */}}
{{- define "tawa.affinity" -}}
{{- if .values.affinity }}
{{- toYaml .values.affinity }}
{{- else }}
podAntiAffinity:
  preferredDuringSchedulingIgnoredDuringExecution:
    - weight: 100
      podAffinityTerm:
        topologyKey: kubernetes.io/hostname
        labelSelector:
          matchLabels:
            {{- include "tawa.selectorLabels" (dict "root" .root "component" .component) | nindent 12 }}
{{- end }}
{{- end -}}

{{/* A claim's spec from a persistence block. storageClass: null leaves the class out
(the cluster's default), "-" is "" (no class: static PersistentVolumes), else that name. */}}
{{- define "tawa.claimSpec" -}}
accessModes:
  {{- toYaml .accessModes | nindent 2 }}
{{- if not (kindIs "invalid" .storageClass) }}
storageClassName: {{ if eq .storageClass "-" }}""{{ else }}{{ .storageClass | quote }}{{ end }}
{{- end }}
resources:
  requests:
    storage: {{ .size }}
{{- end -}}

{{/* A PodDisruptionBudget: name, namespace, component, maxUnavailable. */}}
{{- define "tawa.podDisruptionBudget" -}}
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ .name }}
  namespace: {{ .namespace }}
  labels:
    {{- include "tawa.componentLabels" (dict "root" .root "component" .component) | nindent 4 }}
spec:
  maxUnavailable: {{ .maxUnavailable }}
  selector:
    matchLabels:
      {{- include "tawa.selectorLabels" (dict "root" .root "component" .component) | nindent 6 }}
{{- end -}}

{{/* The operator's rules, in a Role per served namespace or one ClusterRole (operator-rbac.yaml). */}}
{{- define "tawa.operator.rules" -}}
# The Component resource: watched, its progress kept in annotations (patch), its status written.
- apiGroups: [tawa.insureco.io]
  resources: [components]
  verbs: [get, list, watch, patch]
- apiGroups: [tawa.insureco.io]
  resources: [components/status]
  verbs: [get, patch]
# The children, by server-side apply (field manager tawa-operator): create + patch, never delete.
- apiGroups: [apps]
  resources: [deployments]
  verbs: [get, list, watch, create, patch]
- apiGroups: [""]
  resources: [services, serviceaccounts]
  verbs: [create, patch]
# kopf's and the operator's Events (describe comp X).
- apiGroups: [""]
  resources: [events]
  verbs: [create, patch]
{{- end -}}

{{/* The wallet's settings: the admin's token (from the tokens Secret) and the service accounts
     whose projected tokens it accepts, with their roles (TokenReview, audience tawa-wallet). */}}
{{- define "tawa.walletServerTokens" -}}
- name: TAWA_WALLET_TOKEN
  valueFrom:
    secretKeyRef:
      name: {{ include "tawa.secretName" . }}
      key: wallet-token
- name: TAWA_WALLET_SERVICE_ACCOUNTS
  value: {{ printf "%s/%s=operator,%s/%s=janus" .Release.Namespace (include "tawa.operator.fullname" .) (include "tawa.janus.namespace" .) (include "tawa.janus.fullname" .) | quote }}
{{- end -}}

{{/* The operator's and Janus's wallet credential: their service account's projected token for
     audience tawa-wallet (an hour; the kubelet rotates it), re-read by the wallet client. No
     wallet secret is in their pods or namespaces. */}}
{{- define "tawa.walletCredentialEnv" -}}
- name: TAWA_WALLET_TOKEN_FILE
  value: /var/run/secrets/tawa-wallet/token
{{- end -}}

{{- define "tawa.walletCredentialMount" -}}
- name: wallet-credential
  mountPath: /var/run/secrets/tawa-wallet
  readOnly: true
{{- end -}}

{{- define "tawa.walletCredentialVolume" -}}
- name: wallet-credential
  projected:
    sources:
      - serviceAccountToken:
          audience: tawa-wallet
          expirationSeconds: 3600
          path: token
{{- end -}}

{{/* Writable scratch for Python (/tmp): the root filesystem is read-only. */}}
{{- define "tawa.tmpVolume" -}}
- name: tmp
  emptyDir:
    medium: Memory
    sizeLimit: 64Mi
{{- end -}}
