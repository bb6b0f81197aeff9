// systemd readiness (sd_notify(3)) for a unit with Type=notify: READY=1 once listening, and
// STOPPING=1 when shutdown begins. Node cannot send on a unix datagram socket itself, so the
// message goes through systemd-notify(1); the unit needs NotifyAccess=all because the sender is
// that short-lived child, not the main process.
import { execFile } from 'node:child_process'

export type NotifyState = 'READY=1' | 'STOPPING=1'

/** Tell systemd `state` when it asked ($NOTIFY_SOCKET); resolves once sent, never rejects. */
export function notifySystemd(
  state: NotifyState,
  log: (msg: string, fields?: Record<string, unknown>) => void,
  env: NodeJS.ProcessEnv = process.env,
): Promise<void> {
  if (!env.NOTIFY_SOCKET) return Promise.resolve()
  const args = state === 'READY=1' ? ['--ready'] : [state]
  return new Promise((resolve) => {
    execFile('systemd-notify', args, { env, timeout: 10_000 }, (err) => {
      if (err) log('systemd notification failed', { state, error: String(err) })
      resolve()
    })
  })
}
