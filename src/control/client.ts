/** The CLI's side of the control socket: one request, one response, then the connection is closed. */
import { connect } from 'node:net';
import { type ControlRequest, type ControlResponse, MAX_RESPONSE_BYTES, parseControlResponse } from './protocol.ts';

export class ControlError extends Error {
  override name = 'ControlError';
}

function explain(path: string, error: NodeJS.ErrnoException): string {
  switch (error.code) {
    case 'ENOENT':
      return `no control socket at ${path}: is lxc-dhcpd running for this bridge? (or pass --control-socket)`;
    case 'EACCES':
    case 'EPERM':
      return `permission denied on ${path}: the control socket is root-only`;
    case 'ECONNREFUSED':
      return `nobody is listening on ${path}: the daemon is not running (the file is left over)`;
    case 'EPIPE':
    case 'ECONNRESET':
      return `${path} closed the connection without answering`;
    case 'ENOTSOCK':
      return `${path} is not a socket`;
    default:
      return `control socket ${path}: ${error.message}`;
  }
}

/**
 * Sends `request` and resolves with the daemon's response (which may be {ok:false,error}). Rejects with a
 * ControlError whose message is one line: socket missing, permission, no answer within `timeoutMs`, a malformed
 * answer, or the connection closing without one.
 */
export function controlRequest(path: string, request: ControlRequest, timeoutMs = 5000): Promise<ControlResponse> {
  return new Promise((resolve, reject) => {
    const socket = connect({ path });
    let buffered: Buffer = Buffer.alloc(0);
    let settled = false;
    const finish = (outcome: { response: ControlResponse } | { error: string }): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      if ('response' in outcome) resolve(outcome.response);
      else reject(new ControlError(outcome.error));
    };
    const timer = setTimeout(() => finish({ error: `no answer from ${path} within ${timeoutMs} ms` }), timeoutMs);
    socket.on('connect', () => socket.end(`${JSON.stringify(request)}\n`));
    socket.on('error', (e: NodeJS.ErrnoException) => finish({ error: explain(path, e) }));
    socket.on('data', (chunk: Buffer) => {
      buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk]);
      const newline = buffered.indexOf(0x0a);
      if (newline === -1) {
        if (buffered.length > MAX_RESPONSE_BYTES) finish({ error: `answer from ${path} is longer than ${MAX_RESPONSE_BYTES} bytes` });
        return;
      }
      const parsed = parseControlResponse(buffered.subarray(0, newline).toString('utf8'));
      finish(parsed.ok ? { response: parsed.value } : { error: `bad answer from ${path}: ${parsed.error}` });
    });
    socket.on('close', () => finish({ error: `${path} closed the connection without answering` }));
  });
}
