/**
 * The daemon's side of the control socket (protocol in protocol.ts). The socket file is mode 0600 and, when this
 * creates its directory, the directory is 0700: only root (the daemon's user) can connect. A socket file left behind
 * by a crashed daemon is replaced at start, but only when nobody answers on it; a live one is an error.
 */
import { chmodSync, lstatSync, mkdirSync, type Stats, statSync, unlinkSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { dirname } from 'node:path';
import type { ClusterReport } from '../cluster/report.ts';
import type { OperatorTarget, Reservation } from '../config/reservations.ts';
import type { LeaseRow } from '../leases/report.ts';
import { type ControlResponse, type ControlResult, MAX_REQUEST_BYTES, parseControlRequest } from './protocol.ts';

export interface ControlHandlers {
  leases(): LeaseRow[] | Promise<LeaseRow[]>;
  release(target: OperatorTarget): ControlResult | Promise<ControlResult>;
  reserve(reservation: Reservation): ControlResult | Promise<ControlResult>;
  unreserve(target: OperatorTarget): ControlResult | Promise<ControlResult>;
  /** The cluster view (`lxc-dhcpd cluster`); absent: the daemon runs without --cluster-etcd. */
  cluster?(): ClusterReport;
}

interface ControlServerOptions {
  /** Longest accepted request line in bytes. Default MAX_REQUEST_BYTES (4096). */
  maxRequestBytes?: number;
  /** A connection idle this long is closed. Default 30 s. */
  idleTimeoutMs?: number;
  /** Connections beyond this many are closed at once. Default 16. */
  maxConnections?: number;
  /** Called for failures that have no client to tell (e.g. a handler throwing). */
  onError?: (error: Error) => void;
}

export interface ControlServer {
  readonly path: string;
  /** Stops listening, closes connections and removes the socket file (if it is still ours). */
  close(): Promise<void>;
}

/** sockaddr_un.sun_path is 108 bytes including the terminating NUL. */
const MAX_SOCKET_PATH_BYTES = 107;

function errnoOf(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException).code;
}

/** True when something accepts connections on the socket at `path`. */
function somebodyListens(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = connect({ path });
    const done = (answer: boolean): void => {
      probe.destroy();
      resolve(answer);
    };
    probe.once('connect', () => done(true));
    probe.once('error', () => done(false));
    probe.setTimeout(1000, () => done(true)); // a listener too busy to accept is still a listener
  });
}

async function removeStaleSocket(path: string): Promise<void> {
  let stat: Stats;
  try {
    stat = lstatSync(path);
  } catch (e) {
    if (errnoOf(e) === 'ENOENT') return;
    throw e;
  }
  if (!stat.isSocket()) throw new Error(`${path} exists and is not a socket: remove it or choose another --control-socket`);
  if (await somebodyListens(path)) throw new Error(`another process is listening on ${path}: is lxc-dhcpd already running for this bridge?`);
  try {
    unlinkSync(path);
  } catch (e) {
    if (errnoOf(e) !== 'ENOENT') throw e;
  }
}

function errorLine(error: string): string {
  return `${JSON.stringify({ ok: false, error } satisfies ControlResponse)}\n`;
}

async function answer(line: string, handlers: ControlHandlers): Promise<ControlResponse> {
  const parsed = parseControlRequest(line);
  if (!parsed.ok) return { ok: false, error: parsed.error };
  const request = parsed.value;
  switch (request.op) {
    case 'leases':
      return { ok: true, leases: await handlers.leases() };
    case 'cluster':
      return handlers.cluster ? { ok: true, cluster: handlers.cluster() } : { ok: false, error: 'this lxc-dhcpd runs without --cluster-etcd' };
    case 'release':
      return await handlers.release(request.target);
    case 'reserve':
      return await handlers.reserve(request.reservation);
    case 'unreserve':
      return await handlers.unreserve(request.target);
  }
}

function serveConnection(socket: Socket, handlers: ControlHandlers, options: Required<Omit<ControlServerOptions, 'onError'>> & ControlServerOptions): void {
  let buffered: Buffer = Buffer.alloc(0);
  /** Requests are answered one at a time, in order. */
  let queue: Promise<void> = Promise.resolve();
  let closing = false;
  socket.setTimeout(options.idleTimeoutMs, () => socket.destroy());
  socket.on('error', () => undefined); // a client that went away mid-answer is not our problem

  const reply = (text: string): void => {
    if (!socket.destroyed && socket.writable) socket.write(text);
  };

  socket.on('data', (chunk: Buffer) => {
    if (closing) return;
    buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk]);
    for (;;) {
      const newline = buffered.indexOf(0x0a);
      const lineLength = newline === -1 ? buffered.length : newline;
      if (lineLength > options.maxRequestBytes) {
        // No way to find the next request boundary reliably: say why and hang up.
        closing = true;
        queue = queue.then(() => {
          reply(errorLine(`request longer than ${options.maxRequestBytes} bytes: closing the connection`));
          socket.end();
        });
        return;
      }
      if (newline === -1) return;
      const line = buffered.subarray(0, newline).toString('utf8').replace(/\r$/, '');
      buffered = buffered.subarray(newline + 1);
      if (line.trim() === '') continue;
      queue = queue.then(async () => {
        let response: ControlResponse;
        try {
          response = await answer(line, handlers);
        } catch (e) {
          const error = e instanceof Error ? e : new Error(String(e));
          options.onError?.(error);
          response = { ok: false, error: `internal error: ${error.message}` };
        }
        reply(`${JSON.stringify(response)}\n`);
      });
    }
  });
  socket.on('end', () => {
    // the client has sent everything: answer what is queued, then close our side
    queue = queue.then(() => {
      if (!socket.destroyed) socket.end();
    });
  });
}

/**
 * Listens on `path` (default /run/lxc-dhcpd/BRIDGE.sock, see defaultControlSocketPath) and answers requests with
 * `handlers`. Rejects with a one-line reason when the path is too long, is not a socket, or is in use.
 */
export async function startControlServer(path: string, handlers: ControlHandlers, options: ControlServerOptions = {}): Promise<ControlServer> {
  if (Buffer.byteLength(path) > MAX_SOCKET_PATH_BYTES) {
    throw new Error(`control socket path ${path} is longer than ${MAX_SOCKET_PATH_BYTES} bytes`);
  }
  const settings = {
    maxRequestBytes: options.maxRequestBytes ?? MAX_REQUEST_BYTES,
    idleTimeoutMs: options.idleTimeoutMs ?? 30_000,
    maxConnections: options.maxConnections ?? 16,
    ...(options.onError ? { onError: options.onError } : {}),
  };
  const dir = dirname(path);
  // Only a directory we create gets 0700; an existing one (e.g. /run) keeps its mode: the socket's 0600 still applies.
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  await removeStaleSocket(path);

  const connections = new Set<Socket>();
  const server: Server = createServer({ allowHalfOpen: true }, (socket) => {
    if (connections.size >= settings.maxConnections) {
      socket.end(errorLine('too many control connections'));
      return;
    }
    connections.add(socket);
    socket.on('close', () => connections.delete(socket));
    serveConnection(socket, handlers, settings);
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', (e) => reject(new Error(`cannot listen on control socket ${path}: ${e.message}`)));
    // The socket file is created by bind() inside listen(): a umask of 0177 makes it 0600 from the start.
    const previousUmask = process.umask(0o177);
    try {
      server.listen({ path, exclusive: true }, () => resolve());
    } finally {
      process.umask(previousUmask);
    }
  });
  chmodSync(path, 0o600);
  const inode = statSync(path).ino;

  let closed: Promise<void> | null = null;
  return {
    path,
    close() {
      closed ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const socket of connections) socket.destroy();
        try {
          // only remove the file if it is still the one we created (not a newer daemon's)
          if (statSync(path).ino === inode) unlinkSync(path);
        } catch {
          // already gone
        }
      });
      return closed;
    },
  };
}
