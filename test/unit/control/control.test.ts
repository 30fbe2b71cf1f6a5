import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, lstatSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { OperatorTarget, Reservation } from '../../../src/config/reservations.ts';
import { ControlError, controlRequest } from '../../../src/control/client.ts';
import { type ControlResult, defaultControlSocketPath, parseControlRequest, parseTarget } from '../../../src/control/protocol.ts';
import { type ControlHandlers, type ControlServer, startControlServer } from '../../../src/control/server.ts';
import type { LeaseRow } from '../../../src/leases/report.ts';
import { parseIPv4 } from '../../../src/net/address.ts';

const ROW: LeaseRow = {
  mac: '02:1a:b0:00:00:05',
  ip: '10.0.0.105',
  hostname: 'web',
  state: 'bound',
  expiresAt: '2026-01-01T00:00:00.000Z',
  expiresInSeconds: 3599,
  clientId: null,
  type: 'dynamic',
};

interface Calls {
  release: OperatorTarget[];
  reserve: Reservation[];
  unreserve: OperatorTarget[];
}

function recordingHandlers(calls: Calls, overrides: Partial<ControlHandlers> = {}): ControlHandlers {
  return {
    leases: () => [ROW],
    release: (t) => {
      calls.release.push(t);
      return { ok: true, message: 'released' };
    },
    reserve: (r) => {
      calls.reserve.push(r);
      return { ok: true, message: 'reserved' };
    },
    unreserve: (t) => {
      calls.unreserve.push(t);
      return { ok: false, error: 'no such reservation' };
    },
    ...overrides,
  };
}

/** Sends raw bytes (half-closing after them when `endAfterWrite`) and collects response lines until the server closes. */
function rawExchange(path: string, data: string, endAfterWrite: boolean): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const socket = connect({ path });
    let text = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`the server did not close the connection; got ${JSON.stringify(text)}`));
    }, 3000);
    socket.on('connect', () => {
      if (endAfterWrite) socket.end(data);
      else socket.write(data);
    });
    socket.on('data', (chunk: Buffer) => (text += chunk.toString('utf8')));
    socket.on('end', () => {
      clearTimeout(timer);
      resolve(text.split('\n').filter(Boolean));
    });
    socket.on('error', reject);
  });
}

describe('control protocol', () => {
  it('classifies targets as MAC, IPv4 address or host name', () => {
    assert.deepEqual(parseTarget('02:1A:B0:00:00:05'), { ok: true, value: { kind: 'mac', mac: '02:1a:b0:00:00:05' } });
    assert.deepEqual(parseTarget('10.0.0.5'), { ok: true, value: { kind: 'ip', ip: parseIPv4('10.0.0.5') } });
    assert.deepEqual(parseTarget('Web-1'), { ok: true, value: { kind: 'name', name: 'web-1' } });
    const bad = parseTarget('web.lxc');
    assert.equal(bad.ok, false);
    if (!bad.ok) assert.match(bad.error, /target "web\.lxc" is not a MAC, an IPv4 address or a host name/);
  });

  it('validates requests with one-line errors', () => {
    const cases: [string, RegExp][] = [
      ['nonsense', /^request is not JSON/],
      ['[1]', /not a JSON object/],
      ['{}', /unknown op undefined/],
      ['{"op":"shutdown"}', /unknown op "shutdown"/],
      ['{"op":"release"}', /"release" needs "target"/],
      ['{"op":"release","target":7}', /"release" needs "target"/],
      ['{"op":"reserve","mac":"02:1a:b0:00:00:05"}', /"reserve" needs "ip"/],
      ['{"op":"reserve","mac":"zz","ip":"10.0.0.5"}', /"reserve": "zz" is not a MAC/],
      ['{"op":"reserve","mac":"02:1a:b0:00:00:05","ip":"10.0.0.5","name":"a b"}', /"reserve": "a b" is not a host name/],
      ['{"op":"reserve","mac":"02:1a:b0:00:00:05","ip":"10.0.0.5,web"}', /may not contain ","/],
      ['{"op":"reserve","mac":"02:1a:b0:00:00:05","ip":"10.0.0.5","name":5}', /"name" must be a string/],
    ];
    for (const [line, why] of cases) {
      const r = parseControlRequest(line);
      assert.equal(r.ok, false, line);
      if (!r.ok) {
        assert.match(r.error, why, line);
        assert.doesNotMatch(r.error, /\n/);
      }
    }
    assert.deepEqual(parseControlRequest('{"op":"reserve","mac":"02-1A-B0-00-00-05","ip":"10.0.0.5","name":"Web"}'), {
      ok: true,
      value: { op: 'reserve', reservation: { mac: '02:1a:b0:00:00:05', ip: parseIPv4('10.0.0.5'), name: 'web' } },
    });
  });

  it('puts the default socket under /run/lxc-dhcpd', () => {
    assert.equal(defaultControlSocketPath('br0'), '/run/lxc-dhcpd/br0.sock');
  });
});

describe('control server and client', () => {
  let dir: string;
  let path: string;
  let server: ControlServer;
  const calls: Calls = { release: [], reserve: [], unreserve: [] };
  const errors: Error[] = [];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'lxo-control-'));
    path = join(dir, 'run', 'lxc-dhcpd', 'br0.sock');
    server = await startControlServer(
      path,
      recordingHandlers(calls, {
        release: async (t) => {
          calls.release.push(t);
          if (t.kind === 'name' && t.name === 'slow') await new Promise((resolve) => setTimeout(resolve, 100));
          if (t.kind === 'name' && t.name === 'boom') throw new Error('handler exploded');
          return { ok: true, message: `released ${t.kind}` } satisfies ControlResult;
        },
      }),
      { onError: (e) => errors.push(e) },
    );
  });

  after(async () => {
    await server?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('creates the socket 0600 in a new 0700 directory', () => {
    assert.ok(lstatSync(path).isSocket());
    assert.equal(statSync(path).mode & 0o777, 0o600);
    assert.equal(statSync(join(dir, 'run', 'lxc-dhcpd')).mode & 0o777, 0o700);
  });

  it('answers leases, release, reserve and unreserve through controlRequest', async () => {
    assert.deepEqual(await controlRequest(path, { op: 'leases' }, 2000), { ok: true, leases: [ROW] });
    assert.deepEqual(await controlRequest(path, { op: 'release', target: '02:1a:b0:00:00:05' }), { ok: true, message: 'released mac' });
    assert.deepEqual(await controlRequest(path, { op: 'release', target: '10.0.0.105' }), { ok: true, message: 'released ip' });
    assert.deepEqual(await controlRequest(path, { op: 'release', target: 'WEB' }), { ok: true, message: 'released name' });
    assert.deepEqual(calls.release.slice(-3), [
      { kind: 'mac', mac: '02:1a:b0:00:00:05' },
      { kind: 'ip', ip: parseIPv4('10.0.0.105') },
      { kind: 'name', name: 'web' },
    ]);
    assert.deepEqual(await controlRequest(path, { op: 'reserve', mac: '02:1a:b0:00:00:06', ip: '10.0.0.6' }), { ok: true, message: 'reserved' });
    assert.deepEqual(calls.reserve.at(-1), { mac: '02:1a:b0:00:00:06', ip: parseIPv4('10.0.0.6'), name: null });
    assert.deepEqual(await controlRequest(path, { op: 'unreserve', target: 'db' }), { ok: false, error: 'no such reservation' });
    assert.deepEqual(calls.unreserve.at(-1), { kind: 'name', name: 'db' });
  });

  it('rejects invalid requests without calling a handler', async () => {
    const before = calls.release.length;
    const r = await controlRequest(path, { op: 'release', target: 'not a target' });
    assert.equal(r.ok, false);
    assert.equal(calls.release.length, before);
  });

  it('turns a throwing handler into an error response and reports it', async () => {
    const r = await controlRequest(path, { op: 'release', target: 'boom' });
    assert.deepEqual(r, { ok: false, error: 'internal error: handler exploded' });
    assert.equal(errors.at(-1)?.message, 'handler exploded');
  });

  it('answers a bad JSON line with an error and keeps serving the connection, in request order', async () => {
    const lines = await rawExchange(path, 'this is not json\n{"op":"release","target":"slow"}\r\n\n{"op":"leases"}\n', true);
    assert.equal(lines.length, 3);
    assert.match(JSON.parse(lines[0]!).error, /^request is not JSON/);
    assert.deepEqual(JSON.parse(lines[1]!), { ok: true, message: 'released name' }); // the slow one still comes second
    assert.deepEqual(JSON.parse(lines[2]!), { ok: true, leases: [ROW] });
  });

  it('rejects an oversized line and closes the connection', async () => {
    const huge = `{"op":"release","target":"${'a'.repeat(5000)}"}\n`;
    // not half-closed by us: the server itself must hang up after its error line
    const lines = await rawExchange(path, huge, false);
    assert.equal(lines.length, 1);
    assert.match(JSON.parse(lines[0]!).error, /request longer than 4096 bytes: closing the connection/);
    // the server is still fine for the next client
    assert.deepEqual(await controlRequest(path, { op: 'leases' }), { ok: true, leases: [ROW] });
  });

  it('refuses to start a second server on a live socket', async () => {
    await assert.rejects(startControlServer(path, recordingHandlers(calls)), /another process is listening on .*br0\.sock/);
    assert.deepEqual(await controlRequest(path, { op: 'leases' }), { ok: true, leases: [ROW] });
  });
});

describe('control socket lifecycle', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'lxo-control-life-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('replaces a stale socket file nobody listens on, and removes its own at close', async () => {
    const path = join(dir, 'stale.sock');
    // a socket file left by a process that bound it and died
    execFileSync('/usr/bin/python3', ['-c', 'import socket,sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])', path]);
    assert.ok(lstatSync(path).isSocket());
    await assert.rejects(controlRequest(path, { op: 'leases' }, 1000), (e: unknown) => e instanceof ControlError && /nobody is listening on/.test(e.message));
    const server = await startControlServer(path, recordingHandlers({ release: [], reserve: [], unreserve: [] }));
    assert.deepEqual(await controlRequest(path, { op: 'leases' }), { ok: true, leases: [ROW] });
    await server.close();
    assert.equal(existsSync(path), false);
    await assert.rejects(
      controlRequest(path, { op: 'leases' }),
      (e: unknown) => e instanceof ControlError && /^no control socket at .*stale\.sock: is lxc-dhcpd running/.test(e.message),
    );
  });

  it('does not delete a regular file in its way', async () => {
    const path = join(dir, 'file.sock');
    writeFileSync(path, 'keep me');
    await assert.rejects(startControlServer(path, recordingHandlers({ release: [], reserve: [], unreserve: [] })), /file\.sock exists and is not a socket/);
    assert.equal(readFileSync(path, 'utf8'), 'keep me');
  });

  it('refuses a path longer than sockaddr_un allows', async () => {
    await assert.rejects(
      startControlServer(join(dir, `${'x'.repeat(120)}.sock`), recordingHandlers({ release: [], reserve: [], unreserve: [] })),
      /longer than 107 bytes/,
    );
  });

  it('the client gives up after its timeout when the server never answers', async () => {
    const path = join(dir, 'mute.sock');
    const mute = createServer({ allowHalfOpen: true }, () => undefined);
    await new Promise<void>((resolve) => mute.listen(path, resolve));
    try {
      const started = Date.now();
      await assert.rejects(
        controlRequest(path, { op: 'leases' }, 200),
        (e: unknown) => e instanceof ControlError && /no answer from .*mute\.sock within 200 ms/.test(e.message),
      );
      assert.ok(Date.now() - started >= 190);
    } finally {
      mute.close();
    }
  });

  it('the client reports a malformed answer and a hang-up without answer', async () => {
    const path = join(dir, 'liar.sock');
    let mode: 'garbage' | 'hangup' = 'garbage';
    const liar = createServer((socket) => {
      if (mode === 'garbage') socket.end('{"ok":"yes"}\n');
      else socket.destroy();
    });
    await new Promise<void>((resolve) => liar.listen(path, resolve));
    try {
      await assert.rejects(controlRequest(path, { op: 'leases' }, 1000), /bad answer from .*: response is not an object with "ok"/);
      mode = 'hangup';
      await assert.rejects(controlRequest(path, { op: 'leases' }, 1000), /closed the connection without answering/);
    } finally {
      liar.close();
    }
  });
});
