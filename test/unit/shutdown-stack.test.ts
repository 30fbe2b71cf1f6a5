// DisposerStack (src/shutdown.ts): the one undo list a failed start and a stop both unwind. Parts run last-registered
// first, the steps of one part in their given order, every step even after one failed, each step once.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createLogger } from '../../src/log.ts';
import { DisposerStack, type UnwindReason } from '../../src/shutdown.ts';

function recorder(): { lines: string[]; log: ReturnType<typeof createLogger> } {
  const lines: string[] = [];
  return { lines, log: createLogger('debug', (l) => lines.push(l)) };
}

test('parts unwind last-started first, the steps of one part in order, and each step is told why', async () => {
  const { log } = recorder();
  const stack = new DisposerStack();
  const ran: string[] = [];
  const step = (name: string) => [name, (why: UnwindReason) => void ran.push(`${name}:${why}`)] as const;
  stack.defer(step('host'));
  stack.defer(step('store'));
  stack.defer(step('probes'), step('drain'), step('transport'));
  stack.defer(step('dns'));
  await stack.unwind('rollback', log);
  assert.deepEqual(ran, ['dns:rollback', 'probes:rollback', 'drain:rollback', 'transport:rollback', 'store:rollback', 'host:rollback']);
});

test('a failing step does not stop the others; unwind rejects naming it; a second unwind runs nothing again', async () => {
  const { lines, log } = recorder();
  const stack = new DisposerStack();
  const ran: string[] = [];
  stack.defer(['host set-up', () => void ran.push('host')]);
  stack.defer([
    'lease database',
    async () => {
      await Promise.resolve();
      throw new Error('disk gone');
    },
  ]);
  stack.defer([
    'DNS server',
    () => {
      ran.push('dns');
      throw new Error('boom');
    },
  ]);
  await assert.rejects(stack.unwind('stop', log), /DNS server, lease database failed/);
  assert.deepEqual(ran, ['dns', 'host']);
  assert.ok(lines.some((l) => l.includes('lease database failed') && l.includes('disk gone')));
  await stack.unwind('stop', log);
  assert.deepEqual(ran, ['dns', 'host'], 'steps already run are not run again');
});
