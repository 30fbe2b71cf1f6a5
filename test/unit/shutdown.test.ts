// The stop sequence (src/shutdown.ts): every teardown step runs whatever failed before it, one teardown however many
// signals arrive, exit 0 only after a clean one, and an uncaught error tears down and exits 1.
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { AddressProber } from '../../src/dhcp/probe.ts';
import { LeaseStore } from '../../src/leases/store.ts';
import { createLogger } from '../../src/log.ts';
import { createShutdown, drainDecided, installShutdownHandlers, MAX_ERRORS_LOGGED_WHILE_STOPPING, runSteps } from '../../src/shutdown.ts';

function recorder(): { lines: string[]; log: ReturnType<typeof createLogger> } {
  const lines: string[] = [];
  return { lines, log: createLogger('debug', (l) => lines.push(l)) };
}

test('runSteps runs every step although earlier ones throw or reject, logs each failure, then rejects', async () => {
  const { lines, log } = recorder();
  const ran: string[] = [];
  await assert.rejects(
    runSteps(
      [
        ['dns', () => ran.push('dns')],
        [
          'transport',
          () => {
            ran.push('transport');
            throw new Error('socket is closed');
          },
        ],
        [
          'store',
          async () => {
            ran.push('store');
            await Promise.reject(new Error('disk gone'));
          },
        ],
        [
          'host set-up',
          async () => {
            ran.push('host');
          },
        ],
      ],
      log,
    ),
    { message: 'teardown incomplete: transport, store failed' },
  );
  assert.deepEqual(ran, ['dns', 'transport', 'store', 'host']);
  assert.match(lines[0] ?? '', /^error: shutdown: transport failed: Error: socket is closed/);
  assert.match(lines[1] ?? '', /^error: shutdown: store failed: Error: disk gone/);
  await runSteps([['only', () => undefined]], log);
});

function harness(teardown: () => Promise<void>): {
  lines: string[];
  exits: number[];
  teardowns: () => number;
  shutdown: ReturnType<typeof createShutdown>;
  stopping: () => number;
} {
  const { lines, log } = recorder();
  const exits: number[] = [];
  let calls = 0;
  let stoppingCalls = 0;
  const shutdown = createShutdown({
    log,
    teardown: () => {
      calls++;
      return teardown();
    },
    exit: (code) => exits.push(code),
    onStopping: () => stoppingCalls++,
    deadlineMs: 2000,
  });
  return { lines, exits, teardowns: () => calls, shutdown, stopping: () => stoppingCalls };
}

const tick = (ms = 0): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

test('SIGTERM: one teardown, exit 0; more signals while it runs change nothing', async () => {
  let finish!: () => void;
  const h = harness(() => new Promise((resolve) => (finish = resolve)));
  const emitter = new EventEmitter();
  installShutdownHandlers(h.shutdown, emitter as unknown as NodeJS.Process);
  emitter.emit('SIGTERM', 'SIGTERM');
  emitter.emit('SIGTERM', 'SIGTERM');
  emitter.emit('SIGINT', 'SIGINT');
  assert.equal(h.teardowns(), 1);
  assert.equal(h.stopping(), 1);
  assert.equal(h.shutdown.stopping, true);
  finish();
  await tick();
  assert.deepEqual(h.exits, [0]);
  assert.deepEqual(h.lines, ['info: SIGTERM: shutting down', 'info: SIGTERM: already shutting down', 'info: SIGINT: already shutting down']);
});

test('a teardown with a failed step exits 1', async () => {
  const h = harness(() => Promise.reject(new Error('teardown incomplete: host set-up failed')));
  h.shutdown.request('SIGTERM');
  await tick();
  assert.deepEqual(h.exits, [1]);
  assert.match(h.lines.at(-1) ?? '', /^error: shutdown: teardown incomplete: host set-up failed/);
});

test('an uncaught exception or rejection is logged, tears down and exits 1', async () => {
  for (const event of ['uncaughtException', 'unhandledRejection'] as const) {
    const h = harness(() => Promise.resolve());
    const emitter = new EventEmitter();
    installShutdownHandlers(h.shutdown, emitter as unknown as NodeJS.Process);
    emitter.emit(event, new Error('injected bug'));
    assert.equal(h.teardowns(), 1);
    await tick();
    assert.deepEqual(h.exits, [1], event);
    assert.match(h.lines[0] ?? '', /^error: (uncaught exception|unhandled promise rejection): Error: injected bug\\n {4}at /);
  }
});

test('an error thrown while the teardown runs does not abort it; the exit status is 1; a flood is not all logged', async () => {
  let finish!: () => void;
  const h = harness(() => new Promise((resolve) => (finish = resolve)));
  h.shutdown.request('SIGTERM');
  for (let i = 0; i < 50; i++) h.shutdown.fatal('uncaught exception', new Error(`stray send ${i}`));
  assert.equal(h.teardowns(), 1);
  assert.deepEqual(h.exits, [], 'still tearing down');
  finish();
  await tick();
  assert.deepEqual(h.exits, [1]);
  const errors = h.lines.filter((l) => l.startsWith('error: uncaught exception while shutting down (teardown continues)'));
  assert.equal(errors.length, MAX_ERRORS_LOGGED_WHILE_STOPPING);
});

test('a teardown that never finishes is abandoned at the deadline with exit 1', async () => {
  const { lines, log } = recorder();
  const exits: number[] = [];
  const shutdown = createShutdown({ log, teardown: () => new Promise(() => undefined), exit: (c) => exits.push(c), deadlineMs: 50 });
  shutdown.request('SIGTERM');
  await tick(120);
  assert.deepEqual(exits, [1]);
  assert.match(lines.at(-1) ?? '', /teardown did not finish within 50 ms/);
});

test('drainDecided: an ACK waiting on its group commit and an OFFER ended by the stop both get out before it returns', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'lxc-dhcpd-drain-'));
  const store = LeaseStore.open(join(dir, 'leases.db'), { groupCommit: true });
  t.after(() => {
    store.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const sent: string[] = [];
  // As the DHCP transport does it: an ACK once its binding is durable; a late decision on the next turn.
  store.stage({
    ip: 0x0a000064,
    mac: '02:1a:b0:00:00:01',
    clientId: null,
    hostname: null,
    state: 'bound',
    expiresAt: Date.now() + 3_600_000,
    updatedAt: Date.now(),
  });
  store.commitThen((error) => sent.push(error ? 'ACK withheld' : 'ACK'));
  const prober = new AddressProber(() => undefined, 60_000);
  void prober.probe(0x0a000065).then(() => setImmediate(() => sent.push('OFFER')));
  assert.equal(store.syncInFlight, true);
  prober.close();
  assert.equal(await drainDecided(() => store.syncInFlight, 1000), true);
  assert.deepEqual(sent.sort(), ['ACK', 'OFFER']);
  assert.equal(store.syncInFlight, false);
});

test('drainDecided gives up at its deadline when the store never finishes', async () => {
  const started = Date.now();
  assert.equal(await drainDecided(() => true, 50), false);
  const waited = Date.now() - started;
  assert.ok(waited >= 45 && waited < 1000, `waited ${waited} ms`);
});
