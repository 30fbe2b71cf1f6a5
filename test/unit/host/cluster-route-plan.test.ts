import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CLUSTER_ROUTES_MAX_PEERS, type KernelRoute, type PeerRoute, planRoutes, selectPeers } from '../../../src/host/cluster-route-plan.ts';
import { parseIPv4 } from '../../../src/net/address.ts';

const ip = (text: string): number => parseIPv4(text) ?? assert.fail(`bad address ${text}`);
const peer = (host: string, cidr: string, via: string): PeerRoute => {
  const [network = '', length = ''] = cidr.split('/');
  return { host, network: ip(network), prefixLength: Number(length), via: ip(via) };
};
const own = { network: ip('10.41.0.1'), prefixLength: 24 };
const hosts = (list: readonly { host: string }[]): string[] => list.map((p) => p.host);

describe('selectPeers', () => {
  it('accepts well-formed peers in host-name order', () => {
    const result = selectPeers([peer('h3', '10.43.0.0/24', '198.18.0.23'), peer('h2', '10.42.0.0/24', '198.18.0.22')], own);
    assert.deepEqual(hosts(result.accepted), ['h2', 'h3']);
    assert.deepEqual(result.dropped, []);
  });

  it('refuses malformed and dangerous peers as invalid', () => {
    const bad = [
      peer('wide', '0.0.0.0/0', '198.18.0.2'),
      peer('slash7', '10.0.0.0/7', '198.18.0.2'),
      peer('slash31', '10.50.0.0/31', '198.18.0.2'),
      peer('hostbits', '10.50.0.1/24', '198.18.0.2'),
      peer('loopback-via', '10.51.0.0/24', '127.0.0.1'),
      peer('multicast-via', '10.52.0.0/24', '224.0.0.1'),
      peer('via-inside', '10.53.0.0/24', '10.53.0.1'),
      peer('via-ours', '10.54.0.0/24', '10.41.0.9'),
      { host: 'nan', network: Number.NaN, prefixLength: 24, via: ip('198.18.0.2') },
      { host: '', network: ip('10.55.0.0'), prefixLength: 24, via: ip('198.18.0.2') },
    ];
    const result = selectPeers(bad, own);
    assert.deepEqual(result.accepted, []);
    assert.equal(result.dropped.length, bad.length);
    assert.ok(result.dropped.every((d) => d.reason === 'invalid'));
  });

  it('refuses overlaps with our subnet and with a peer taken before (the first host name wins)', () => {
    const result = selectPeers(
      [peer('b', '10.42.0.0/16', '198.18.0.3'), peer('a', '10.42.1.0/24', '198.18.0.2'), peer('c', '10.41.0.128/25', '198.18.0.4')],
      own,
    );
    assert.deepEqual(hosts(result.accepted), ['a']);
    assert.deepEqual(
      result.dropped.map((d) => `${d.peer.host}:${d.reason}`),
      ['b:overlaps-peer', 'c:overlaps-own'],
    );
  });

  it('one entry per host; at most max peers', () => {
    const result = selectPeers(
      [peer('a', '10.42.0.0/24', '198.18.0.2'), peer('a', '10.43.0.0/24', '198.18.0.2'), peer('b', '10.44.0.0/24', '198.18.0.3')],
      own,
      1,
    );
    assert.deepEqual(hosts(result.accepted), ['a']);
    assert.deepEqual(
      result.dropped.map((d) => `${d.peer.host}:${d.reason}`),
      ['a:invalid', 'b:over-limit'],
    );
  });

  it('by default keeps CLUSTER_ROUTES_MAX_PEERS peers and drops the rest as over-limit', () => {
    const many = Array.from({ length: CLUSTER_ROUTES_MAX_PEERS + 2 }, (_, i) => ({
      host: `h${String(i).padStart(5, '0')}`,
      network: (ip('10.0.0.0') + i * 256) >>> 0,
      prefixLength: 24,
      via: ip('198.18.0.2'),
    }));
    const result = selectPeers(many, { network: ip('192.168.0.0'), prefixLength: 24 });
    assert.equal(result.accepted.length, CLUSTER_ROUTES_MAX_PEERS);
    assert.deepEqual(
      result.dropped.map((d) => d.reason),
      ['over-limit', 'over-limit'],
    );
  });
});

describe('planRoutes', () => {
  const PROTO = 213;
  const kernel = (cidr: string, via: string | null, protocol: number): KernelRoute => {
    const [network = '', length = ''] = cidr.split('/');
    return { network: ip(network), prefixLength: Number(length), via: via === null ? null : ip(via), protocol };
  };

  it('installs new routes, replaces a changed next hop, keeps an unchanged one, removes departed ones', () => {
    const plan = planRoutes(
      [peer('h2', '10.42.0.0/24', '198.18.0.22'), peer('h3', '10.43.0.0/24', '198.18.0.33'), peer('h4', '10.44.0.0/24', '198.18.0.24')],
      [kernel('10.42.0.0/24', '198.18.0.22', PROTO), kernel('10.43.0.0/24', '198.18.0.23', PROTO), kernel('10.45.0.0/24', '198.18.0.25', PROTO)],
      PROTO,
    );
    assert.deepEqual(hosts(plan.install), ['h3', 'h4']);
    assert.deepEqual(
      plan.remove.map((r) => r.network),
      [ip('10.45.0.0')],
    );
    assert.deepEqual(plan.blocked, []);
  });

  it("never touches someone else's route to the same destination, and never removes it", () => {
    const plan = planRoutes([peer('h2', '10.42.0.0/24', '198.18.0.22')], [kernel('10.42.0.0/24', '198.18.0.99', 4), kernel('10.60.0.0/24', null, 2)], PROTO);
    assert.deepEqual(hosts(plan.blocked), ['h2']);
    assert.deepEqual(plan.install, []);
    assert.deepEqual(plan.remove, []);
  });

  it('no peers: every route of ours goes', () => {
    const plan = planRoutes([], [kernel('10.42.0.0/24', '198.18.0.22', PROTO)], PROTO);
    assert.equal(plan.remove.length, 1);
  });
});
