import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { CreateResult } from '../../../src/cluster/etcd.ts';
import { NamePublisher, type NameWriter, ownership } from '../../../src/cluster/publisher.ts';
import { encodeNameRecord, type NameRecord, nameKey } from '../../../src/cluster/records.ts';
import { parseIPv4 } from '../../../src/net/address.ts';

const ip = (t: string): number => parseIPv4(t) as number;
const rec = (name: string, host: string, kind: 'lease' | 'reservation' = 'lease', a = '10.0.3.5'): NameRecord => ({ name, host, kind, a: [ip(a)], aaaa: [] });

/** etcd's key space and its transactions, as the publisher sees them. */
class FakeEtcd implements NameWriter {
  readonly keys = new Map<string, { value: string; modRevision: bigint; lease: string }>();
  revision = 1n;
  calls = 0;
  down = false;

  private check(): void {
    this.calls++;
    if (this.down) throw new Error('unavailable');
  }

  set(key: string, value: string, lease = 'other'): bigint {
    this.revision++;
    this.keys.set(key, { value, modRevision: this.revision, lease });
    return this.revision;
  }

  async create(key: string, value: string, leaseId: string): Promise<CreateResult> {
    this.check();
    const current = this.keys.get(key);
    if (current === undefined) return { created: true, revision: this.set(key, value, leaseId) };
    return { created: false, current: { value: Buffer.from(current.value), modRevision: current.modRevision } };
  }

  async replace(key: string, value: string, leaseId: string, modRevision: bigint): Promise<bigint | null> {
    this.check();
    return this.keys.get(key)?.modRevision === modRevision ? this.set(key, value, leaseId) : null;
  }

  async remove(key: string, modRevision: bigint): Promise<boolean> {
    this.check();
    if (this.keys.get(key)?.modRevision !== modRevision) return false;
    this.keys.delete(key);
    return true;
  }

  holder(name: string): string | undefined {
    const v = this.keys.get(nameKey(name));
    return v === undefined ? undefined : (JSON.parse(v.value) as { host: string }).host;
  }
}

function setup(self = 'a'): { etcd: FakeEtcd; publisher: NamePublisher; lost: string[] } {
  const etcd = new FakeEtcd();
  const lost: string[] = [];
  const publisher = new NamePublisher({ self, writer: etcd, onLost: (n, h) => lost.push(`${n}@${h}`) });
  return { etcd, publisher, lost };
}

const want = (...records: NameRecord[]): Map<string, NameRecord> => new Map(records.map((r) => [r.name, r]));

test('the conflict rules: own keys update, a reservation takes a lease name, otherwise the holder keeps it', () => {
  assert.equal(ownership(rec('web', 'a'), null, 'a'), 'update');
  assert.equal(ownership(rec('web', 'a'), rec('web', 'a'), 'a'), 'update');
  assert.equal(ownership(rec('web', 'a', 'reservation'), rec('web', 'b', 'lease'), 'a'), 'take-over');
  assert.equal(ownership(rec('web', 'a', 'reservation'), rec('web', 'b', 'reservation'), 'a'), 'lost');
  assert.equal(ownership(rec('web', 'a', 'lease'), rec('web', 'b', 'lease'), 'a'), 'lost');
  assert.equal(ownership(rec('web', 'a', 'lease'), rec('web', 'b', 'reservation'), 'a'), 'lost');
});

test('the first holder wins: a name another host holds is not published, logged once', async () => {
  const { etcd, publisher, lost } = setup();
  etcd.set(nameKey('web'), encodeNameRecord(rec('web', 'b')));
  await publisher.sync(want(rec('web', 'a'), rec('db', 'a')), 'L1');
  assert.equal(etcd.holder('web'), 'b');
  assert.equal(etcd.holder('db'), 'a');
  assert.equal(etcd.keys.get(nameKey('db'))?.lease, 'L1', 'attached to our etcd lease');
  const calls = etcd.calls;
  await publisher.sync(want(rec('web', 'a'), rec('db', 'a')), 'L1');
  assert.equal(etcd.calls, calls, 'nothing changed: no transaction, the lost name is not retried');
  assert.deepEqual(lost, ['web@b']);
  assert.deepEqual([...publisher.lostNames], [['web', 'b']]);
});

test("a reservation takes a name from another host's lease; the lease holder loses it when the watch shows it", async () => {
  const { etcd, publisher } = setup();
  etcd.set(nameKey('web'), encodeNameRecord(rec('web', 'b', 'lease')));
  await publisher.sync(want(rec('web', 'a', 'reservation')), 'L1');
  assert.equal(etcd.holder('web'), 'a');
  const b = setup('b');
  await b.publisher.sync(want(rec('db', 'b')), 'L2');
  b.publisher.observed('db', rec('db', 'c', 'reservation'), 99n);
  assert.deepEqual(b.lost, ['db@c'], 'taken over: dropped here and logged');
  assert.equal(b.publisher.publishedNames.has('db'), false);
});

test('a released name is deleted (only while still ours); a changed address replaces the key', async () => {
  const { etcd, publisher } = setup();
  await publisher.sync(want(rec('web', 'a'), rec('db', 'a')), 'L1');
  await publisher.sync(want(rec('web', 'a', 'lease', '10.0.3.9')), 'L1');
  assert.equal(etcd.holder('db'), undefined, 'released: key deleted');
  assert.match(etcd.keys.get(nameKey('web'))?.value ?? '', /10\.0\.3\.9/);
});

test('a lost name is tried again once its holder lets it go', async () => {
  const { etcd, publisher } = setup();
  etcd.set(nameKey('web'), encodeNameRecord(rec('web', 'b')));
  await publisher.sync(want(rec('web', 'a')), 'L1');
  etcd.keys.delete(nameKey('web'));
  assert.equal(publisher.observed('web', null, 50n), true, 'a sync is due');
  await publisher.sync(want(rec('web', 'a')), 'L1');
  assert.equal(etcd.holder('web'), 'a');
});

test('after a lost etcd lease everything is published again, own leftovers updated onto the new lease', async () => {
  const { etcd, publisher } = setup();
  await publisher.sync(want(rec('web', 'a')), 'L1');
  publisher.reconsiderAll(true);
  await publisher.sync(want(rec('web', 'a')), 'L2');
  assert.equal(etcd.keys.get(nameKey('web'))?.lease, 'L2');
});

test('etcd failing makes sync reject (the caller retries); nothing is marked published', async () => {
  const { etcd, publisher } = setup();
  etcd.down = true;
  await assert.rejects(publisher.sync(want(rec('web', 'a')), 'L1'));
  assert.equal(publisher.publishedNames.size, 0);
  etcd.down = false;
  await publisher.sync(want(rec('web', 'a')), 'L1');
  assert.equal(etcd.holder('web'), 'a');
});
