// Issue 11: the forward cache bounded in bytes (not only entries), large answers not cached, records copied out of
// the upstream message; upstream TCP answers reassembled linearly with a length cap.
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:net';
import { after, describe, mock, test } from 'node:test';
import dnsPacket, { type Answer, type DecodedPacket } from 'dns-packet';
import { DnsCache, type DnsQuestion, exchangeOverTcp } from '../../../src/dns/forward/index.ts';
import { TcpMessageReader } from '../../../src/dns/tcp-reader.ts';
import { wireQuestionKey } from '../../../src/dns/wire-name.ts';

function txtResponse(name: string, chunks: number, chunkBytes = 200): { raw: Buffer; packet: DecodedPacket } {
  const data = Array.from({ length: chunks }, (_, i) => Buffer.alloc(chunkBytes, 0x61 + (i % 26)));
  const raw = dnsPacket.encode({
    type: 'response',
    id: 1,
    flags: 0x8180,
    questions: [{ type: 'TXT', name, class: 'IN' }],
    answers: [{ type: 'TXT', name, ttl: 300, class: 'IN', data } as Answer],
  });
  return { raw, packet: dnsPacket.decode(raw) };
}

function txt(name: string): DnsQuestion {
  return { name, type: 'TXT', class: 'IN' };
}

describe('DnsCache byte budget', () => {
  test('large answers are evicted by bytes: the estimate never exceeds maxBytes', () => {
    const cache = new DnsCache({ maxBytes: 64 * 1024, maxEntries: 10_000 });
    for (let i = 0; i < 100; i++) {
      const { raw, packet } = txtResponse(`big${i}.example.test`, 18);
      assert.ok(cache.put(txt(`big${i}.example.test`), packet, 0, {}, raw.length));
      assert.ok(cache.bytes <= cache.maxBytes, `${cache.bytes} bytes after ${i + 1} puts`);
    }
    assert.ok(cache.size < 40, `${cache.size} entries of ~3.6 KB kept in 64 KiB`);
    assert.ok(cache.stats.evicted > 60);
    assert.ok(cache.get(txt('big99.example.test'), 0) !== undefined, 'the newest is kept');
    assert.equal(cache.get(txt('big0.example.test'), 0), undefined, 'the oldest went');
  });

  test('the wire form, once built, is counted too', () => {
    const cache = new DnsCache();
    const { raw, packet } = txtResponse('wire.example.test', 4);
    cache.put(txt('wire.example.test'), packet, 0, {}, raw.length);
    const before = cache.bytes;
    const key = wireQuestionKey('wire.example.test', 'TXT', 'IN');
    assert.ok(key !== null);
    assert.ok(cache.getWire(key, 0, {}, 4096) !== undefined);
    assert.ok(cache.bytes > before + 800, `${before} -> ${cache.bytes}`);
  });

  test('an answer larger than MAX_CACHEABLE_RESPONSE_BYTES (4096) is not cached', () => {
    const cache = new DnsCache();
    const { raw, packet } = txtResponse('huge.example.test', 30);
    assert.ok(raw.length > 4096);
    assert.equal(cache.put(txt('huge.example.test'), packet, 0, {}, raw.length), false);
    assert.equal(cache.stats.tooLarge, 1);
    assert.equal(cache.size, 0);
    assert.equal(cache.bytes, 0);
  });

  test('cached records own their bytes: no view into the upstream message stays alive', () => {
    const cache = new DnsCache();
    const name = 'sig.example.test';
    const raw = dnsPacket.encode({
      type: 'response',
      id: 1,
      flags: 0x8180,
      questions: [{ type: 'A', name, class: 'IN' }],
      answers: [
        { type: 'A', name, ttl: 300, class: 'IN', data: '192.0.2.1' },
        {
          type: 'RRSIG',
          name,
          ttl: 300,
          class: 'IN',
          data: {
            typeCovered: 'A',
            algorithm: 13,
            labels: 3,
            originalTTL: 300,
            expiration: 2,
            inception: 1,
            keyTag: 1,
            signersName: 'example.test',
            signature: Buffer.alloc(64, 7),
          },
        },
        { type: 'TXT', name, ttl: 300, class: 'IN', data: Array.from({ length: 12 }, () => Buffer.alloc(250, 0x62)) } as Answer,
      ],
    });
    const packet = dnsPacket.decode(raw);
    assert.ok(cache.put({ name, type: 'A' }, packet, 0, {}, raw.length));
    raw.fill(0);
    const hit = cache.get({ name, type: 'A' }, 0);
    assert.ok(hit);
    const rrsig = hit.answers.find((r) => r.type === 'RRSIG');
    assert.ok(rrsig?.type === 'RRSIG');
    assert.deepEqual(rrsig.data.signature, Buffer.alloc(64, 7), 'a copy: zeroing the message did not change it');
    assert.equal(rrsig.data.signature.buffer.byteLength, 64, 'its own 64-byte store, not the message buffer');
    const text = hit.answers.find((r) => r.type === 'TXT');
    assert.ok(text?.type === 'TXT' && Array.isArray(text.data));
    const [chunk] = text.data as Buffer[];
    assert.equal(chunk?.buffer.byteLength, 250);
  });
});

describe('upstream TCP reassembly', () => {
  const message = dnsPacket.encode({
    type: 'response',
    id: 7,
    flags: 0x8180,
    questions: [{ type: 'TXT', name: 't.example.test', class: 'IN' }],
    answers: [{ type: 'TXT', name: 't.example.test', ttl: 1, class: 'IN', data: [Buffer.alloc(250, 0x63), Buffer.alloc(250, 0x64)] } as Answer],
  });
  const framed = Buffer.concat([Buffer.from([message.length >> 8, message.length & 0xff]), message]);

  test('an answer delivered one byte per chunk is reassembled into one buffer of its length', () => {
    const reader = new TcpMessageReader(65_535);
    let result: Buffer | string = 'incomplete';
    for (let i = 0; i < framed.length; i++) {
      assert.equal(result, 'incomplete', `complete too early at byte ${i}`);
      reader.push(framed.subarray(i, i + 1));
      result = reader.next();
    }
    assert.ok(Buffer.isBuffer(result));
    assert.deepEqual(result, message);
    assert.equal(result.buffer.byteLength, message.length, 'allocated once, exactly');
  });

  test('a length over the cap is refused before reading the body', () => {
    const reader = new TcpMessageReader(512);
    reader.push(Buffer.from([0x03, 0xe8]));
    assert.equal(reader.next(), 'too-large');
  });

  const servers: Server[] = [];
  after(() => {
    for (const server of servers) server.close();
  });

  async function serve(write: (socket: import('node:net').Socket) => void): Promise<number> {
    const server = createServer((socket) => {
      socket.setNoDelay(true);
      socket.once('data', () => write(socket));
      socket.on('error', () => undefined);
    });
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    const address = server.address();
    assert.ok(address !== null && typeof address === 'object');
    return address.port;
  }

  test('over a real connection, one byte per write: the whole answer', async () => {
    const port = await serve((socket) => {
      let i = 0;
      const next = (): void => {
        if (i < framed.length) socket.write(framed.subarray(i, ++i), next);
      };
      next();
    });
    // Quadratic reassembly concatenated everything received so far on every chunk.
    const concat = mock.method(Buffer, 'concat');
    try {
      const answer = await exchangeOverTcp({ address: '127.0.0.1', port, family: 4 }, Buffer.alloc(12), 5000);
      assert.deepEqual(answer, message);
      assert.equal(concat.mock.callCount(), 0, 'no Buffer.concat per chunk');
    } finally {
      concat.mock.restore();
    }
  });

  test('over a real connection, a length over the cap: rejected without waiting for the body', async () => {
    const port = await serve((socket) => socket.write(Buffer.from([0xff, 0xff])));
    await assert.rejects(exchangeOverTcp({ address: '127.0.0.1', port, family: 4 }, Buffer.alloc(12), 5000, 4096), /cap/);
  });
});
