// Issue 22, the cluster, checked on a control plane the program built: a Secret read raw from etcd is
// not plain text, and the API server's audit log records the request that created it (at Metadata:
// who, what, which object, never the value).
import { randomBytes } from 'crypto';

import { AUDIT_LOG_FILE } from '../../../specs/apiServer';

const KUBECTL = 'kubectl --kubeconfig /etc/kubernetes/admin.conf';
/** kubeadm's etcd certificates, as mounted into the etcd static pod (whose image has etcdctl; the hosts have no crictl). */
const ETCD_PKI = '/etc/kubernetes/pki/etcd';
/** What the API server writes in front of every value it encrypted: `k8s:enc:<provider>:v1:<key name>:`. */
const ENCRYPTED_PREFIX = Buffer.from('k8s:enc:');
/** How long the audit record of a finished request may take to reach the log (it is written after the answer). */
const AUDIT_WAIT_SECONDS = 15;

export interface HardeningResult {
  /** The Secret's value is readable in etcd: its marker in the raw bytes, or no encryption prefix. */
  secretRawIsPlain: boolean;
  /** The audit log holds the create request of that Secret, answered 201. */
  auditRecordsRequest: boolean;
}

/** One line of the API server's audit log (audit.k8s.io/v1 Event), the fields this check reads. */
interface AuditEvent {
  stage?: string;
  verb?: string;
  objectRef?: { resource?: string; namespace?: string; name?: string };
  responseStatus?: { code?: number };
}

/**
 * Creates a Secret with a marker value in namespace default on the control plane (through
 * /etc/kubernetes/admin.conf), reads it raw from etcd with the etcdctl of the etcd pod, looks for its
 * create request in the audit log, and deletes it again. `sudoOn(host, script)` runs a bash script as
 * root on the node named `host` and returns its stdout; `controlPlane` is the control plane's node name
 * (its etcd pod is `etcd-<name>`). Throws when etcd has no such key, or when the audit log holds the
 * marker value (the policy logs no bodies).
 */
export async function checkHardening(
  sudoOn: (host: string, script: string) => Promise<string>,
  controlPlane: string,
): Promise<HardeningResult> {
  const name = `lab-hardening-${randomBytes(6).toString('hex')}`;
  const marker = `lab-marker-${randomBytes(16).toString('hex')}`;
  const key = `/registry/secrets/default/${name}`;
  // A manifest on stdin: the value is on no command line.
  await sudoOn(
    controlPlane,
    `set -euo pipefail
${KUBECTL} create -f - <<'EOF'
apiVersion: v1
kind: Secret
metadata:
  name: ${name}
  namespace: default
stringData:
  marker: ${marker}
EOF`,
  );
  try {
    // The value's bytes as etcd stores them, base64 on the wire: they are binary when not plain text.
    const stored = await sudoOn(
      controlPlane,
      `set -euo pipefail
${KUBECTL} -n kube-system exec etcd-${controlPlane} -- /usr/local/bin/etcdctl --endpoints https://127.0.0.1:2379 \\
  --cacert ${ETCD_PKI}/ca.crt --cert ${ETCD_PKI}/server.crt --key ${ETCD_PKI}/server.key \\
  get --print-value-only ${key} | base64 -w0`,
    );
    const raw = Buffer.from(stored.trim(), 'base64');
    if (raw.length === 0) throw new Error(`etcd on ${controlPlane} holds nothing at ${key}`);
    const secretRawIsPlain = raw.includes(marker) || !raw.subarray(0, ENCRYPTED_PREFIX.length).equals(ENCRYPTED_PREFIX);

    // Every line naming the Secret or holding its value, once the create's record is there (or the wait is over).
    const lines = (
      await sudoOn(
        controlPlane,
        `for _ in $(seq ${AUDIT_WAIT_SECONDS * 5}); do
  if grep -F '${name}' ${AUDIT_LOG_FILE} 2>/dev/null | grep -qF '"verb":"create"'; then break; fi
  sleep 0.2
done
grep -hF -e '${name}' -e '${marker}' ${AUDIT_LOG_FILE} 2>/dev/null || true`,
      )
    )
      .split('\n')
      .filter((l) => l.trim() !== '');
    if (lines.some((l) => l.includes(marker))) throw new Error(`the audit log ${AUDIT_LOG_FILE} on ${controlPlane} holds the Secret's value`);
    const auditRecordsRequest = lines
      .map((l) => JSON.parse(l) as AuditEvent)
      .some(
        (e) =>
          e.stage === 'ResponseComplete' &&
          e.verb === 'create' &&
          e.objectRef?.resource === 'secrets' &&
          e.objectRef.namespace === 'default' &&
          e.objectRef.name === name &&
          e.responseStatus?.code === 201,
      );
    return { secretRawIsPlain, auditRecordsRequest };
  } finally {
    await sudoOn(controlPlane, `${KUBECTL} -n default delete secret ${name} --ignore-not-found`);
  }
}
