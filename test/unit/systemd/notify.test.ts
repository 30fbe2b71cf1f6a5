// sd_notify through systemd-notify, received by a small AF_UNIX datagram listener (Debian's /usr/bin/python3: Node
// cannot receive AF_UNIX datagrams) that records each message with the sender PID from SCM_CREDENTIALS and answers
// systemd-notify's BARRIER=1 by closing the fd it carries, as systemd does.

import assert from 'node:assert/strict';
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createNotifier, findSystemdNotify, isUnderSystemd, notifyAssignment } from '../../../src/systemd/notify.ts';
import { startWatchdog, watchdogIntervalMs } from '../../../src/systemd/watchdog.ts';

const RECEIVER = `
import json, os, socket, struct, sys
addr = sys.argv[1]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind('\\0' + addr[1:] if addr.startswith('@') else addr)
s.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
print(json.dumps({'listening': True}), flush=True)
while True:
    msg, anc, _, _ = s.recvmsg(4096, socket.CMSG_SPACE(12) + socket.CMSG_SPACE(64))
    pid = None
    for level, kind, data in anc:
        if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
            pid = struct.unpack('iII', data[:12])[0]
        elif level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            for i in range(0, len(data) - len(data) % 4, 4):
                os.close(struct.unpack('i', data[i:i + 4])[0])
    print(json.dumps({'message': msg.decode(), 'pid': pid}), flush=True)
`;

interface Received {
  message: string;
  pid: number | null;
}

class Receiver {
  readonly messages: Received[] = [];
  private constructor(private readonly child: ChildProcessWithoutNullStreams) {}

  static start(address: string): Promise<Receiver> {
    const child = spawn('/usr/bin/python3', ['-c', RECEIVER, address]);
    const receiver = new Receiver(child);
    return new Promise((resolve, reject) => {
      let buffered = '';
      child.stdout.setEncoding('utf8');
      child.stdout.on('data', (chunk: string) => {
        buffered += chunk;
        for (let nl = buffered.indexOf('\n'); nl !== -1; nl = buffered.indexOf('\n')) {
          const line = JSON.parse(buffered.slice(0, nl)) as { listening?: boolean } & Received;
          buffered = buffered.slice(nl + 1);
          if (line.listening) resolve(receiver);
          else receiver.messages.push(line);
        }
      });
      child.on('exit', (code) => reject(new Error(`receiver exited ${code}`)));
    });
  }

  /** Messages other than systemd-notify's barriers. */
  get notifications(): Received[] {
    return this.messages.filter((m) => m.message !== 'BARRIER=1');
  }

  stop(): void {
    this.child.kill('SIGKILL');
  }
}

const SYSTEMD_NOTIFY = findSystemdNotify();

describe('isUnderSystemd', () => {
  it('is true with INVOCATION_ID or JOURNAL_STREAM, false without', () => {
    assert.equal(isUnderSystemd({ INVOCATION_ID: '0123abcd' }), true);
    assert.equal(isUnderSystemd({ JOURNAL_STREAM: '8:12345' }), true);
    assert.equal(isUnderSystemd({ PATH: '/usr/bin' }), false);
    assert.equal(isUnderSystemd({ INVOCATION_ID: '' }), false);
  });
});

describe('notifyAssignment', () => {
  it('keeps a value on one line and refuses odd names', () => {
    assert.equal(notifyAssignment('STATUS', 'serving 3 leases\nREADY=1\r\n'), 'STATUS=serving 3 leases READY=1 ');
    assert.throws(() => notifyAssignment('status', 'x'), /not a notification variable name/);
    assert.throws(() => notifyAssignment('A=B', 'x'), /not a notification variable name/);
  });
});

describe('createNotifier without a way to notify', () => {
  it('does nothing without NOTIFY_SOCKET', async () => {
    const n = createNotifier({ env: { PATH: process.env.PATH ?? '' }, command: '/nonexistent/systemd-notify' });
    assert.equal(n.enabled, false);
    assert.equal(n.problem, null);
    assert.equal(await n.ready('x'), false);
  });

  it('says why when NOTIFY_SOCKET is set but systemd-notify is missing', async () => {
    const n = createNotifier({ env: { NOTIFY_SOCKET: '@x', PATH: '/nonexistent' } });
    assert.equal(n.enabled, false);
    assert.match(n.problem ?? '', /systemd-notify is not installed/);
    assert.equal(await n.ready(), false);
  });

  it('reports a failing command through onError and resolves false', async () => {
    const errors: Error[] = [];
    const n = createNotifier({ env: { NOTIFY_SOCKET: '@lxo-none' }, command: '/bin/false', onError: (e) => errors.push(e) });
    assert.equal(n.enabled, true);
    assert.equal(await n.ready(), false);
    assert.equal(errors.length, 1);
    assert.match(errors[0]!.message, /^systemd-notify READY=1: exit 1/);
  });
});

describe('createNotifier with systemd-notify', { skip: SYSTEMD_NOTIFY === null ? 'systemd-notify not installed (Debian package systemd)' : false }, () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'lxo-notify-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  for (const kind of ['abstract', 'path'] as const) {
    it(`delivers READY, STATUS, RELOADING and STOPPING in order to a ${kind} NOTIFY_SOCKET`, async (t) => {
      const address = kind === 'abstract' ? `@lxo-notify-${randomBytes(4).toString('hex')}` : join(dir, 'notify.sock');
      const receiver = await Receiver.start(address);
      try {
        const errors: Error[] = [];
        const n = createNotifier({
          env: { ...process.env, NOTIFY_SOCKET: address },
          monotonicUsec: () => 123456789n,
          onError: (e) => errors.push(e),
        });
        assert.equal(n.enabled, true);
        // fired without awaiting each: the notifier must keep the order
        const results = await Promise.all([n.ready('serving DHCP on br0'), n.status('2 leases\nline two'), n.reloading(), n.ready(), n.stopping()]);
        assert.deepEqual(errors, []);
        assert.deepEqual(results, [true, true, true, true, true]);
        assert.deepEqual(
          receiver.notifications.map((m) => m.message),
          ['READY=1\nSTATUS=serving DHCP on br0', 'STATUS=2 leases line two', 'RELOADING=1\nMONOTONIC_USEC=123456789', 'READY=1', 'STOPPING=1'],
        );
        // systemd-notify ran without --no-block: every message was followed by its barrier
        assert.equal(receiver.messages.filter((m) => m.message === 'BARRIER=1').length, 5);
        const pids = [...new Set(receiver.notifications.map((m) => m.pid))];
        t.diagnostic(`sender PIDs seen: ${pids.join(', ')} (this process: ${process.pid})`);
      } finally {
        receiver.stop();
      }
    });
  }
});

describe('watchdogIntervalMs', () => {
  it('is half of WATCHDOG_USEC, for this process only', () => {
    assert.equal(watchdogIntervalMs({ WATCHDOG_USEC: '30000000' }, 42), 15_000);
    assert.equal(watchdogIntervalMs({ WATCHDOG_USEC: '30000000', WATCHDOG_PID: '42' }, 42), 15_000);
    assert.equal(watchdogIntervalMs({ WATCHDOG_USEC: '30000000', WATCHDOG_PID: '43' }, 42), null, 'meant for another process');
    assert.equal(watchdogIntervalMs({}, 42), null);
    for (const bad of ['', '0', '-5', '3e7', 'soon', '12345678901234567']) assert.equal(watchdogIntervalMs({ WATCHDOG_USEC: bad }, 42), null, bad);
  });
});

describe('startWatchdog with systemd-notify', { skip: SYSTEMD_NOTIFY === null ? 'systemd-notify not installed (Debian package systemd)' : false }, () => {
  const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
  const pings = (r: Receiver): number => r.notifications.filter((m) => m.message === 'WATCHDOG=1').length;

  it('pings WATCHDOG=1 at half of WATCHDOG_USEC from the event loop, none while the loop hangs, none after stop()', async () => {
    const address = `@lxo-watchdog-${randomBytes(4).toString('hex')}`;
    const receiver = await Receiver.start(address);
    try {
      const env = { ...process.env, NOTIFY_SOCKET: address, WATCHDOG_USEC: '600000', WATCHDOG_PID: String(process.pid) };
      const watchdog = startWatchdog(createNotifier({ env }), env);
      assert.ok(watchdog);
      assert.equal(watchdog.intervalMs, 300);
      await sleep(1000);
      const beforeHang = pings(receiver);
      assert.ok(beforeHang >= 2, `${beforeHang} pings in 1 s at a 300 ms interval`);
      // The event loop hangs for five intervals: no ping can leave (one already under way may still arrive).
      const until = Date.now() + 1500;
      while (Date.now() < until) {
        // a loop that never yields
      }
      await sleep(100);
      assert.ok(pings(receiver) <= beforeHang + 1, `${pings(receiver) - beforeHang} pings during a 1.5 s hang`);
      await sleep(1000);
      assert.ok(pings(receiver) >= beforeHang + 2, 'the pings resume with the loop');
      watchdog.stop();
      await sleep(500);
      const afterStop = pings(receiver);
      await sleep(700);
      assert.equal(pings(receiver), afterStop, 'no ping after stop()');
    } finally {
      receiver.stop();
    }
  });

  it('does not start when WATCHDOG_PID names another process or WATCHDOG_USEC is unset', () => {
    const env = { ...process.env, NOTIFY_SOCKET: '@lxo-unused', WATCHDOG_USEC: '600000', WATCHDOG_PID: '1' };
    assert.equal(startWatchdog(createNotifier({ env }), env), null);
    const noUsec: NodeJS.ProcessEnv = { ...process.env, NOTIFY_SOCKET: '@lxo-unused' };
    delete noUsec.WATCHDOG_USEC;
    assert.equal(startWatchdog(createNotifier({ env: noUsec }), noUsec), null);
  });
});
